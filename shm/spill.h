// Spill files: how a message too large for a mailbox ring (a batch or reply
// holding values of several MiB) travels. The sender writes the payload to a
// file of its own in /dev/shm and sends, through the ring, a small kSpillType
// message naming it; the receiver's drain reads the file, removes it and
// hands the message on as if it had come through the ring. The ring message
// and the file together are the message: a file whose ring message is lost
// (its receiver died first) is removed with the cluster's block.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "shm/status.h"

namespace cv::shm {

// The payload of the ring message that stands for a spilled one.
inline constexpr uint16_t kSpillType = 0xfffe;
inline constexpr size_t kSpillNameBytes = 112;
struct SpillRefWire {
  uint16_t type;       // the spilled message's own type
  uint16_t reserved0;
  uint32_t reserved1;
  uint64_t bytes;      // its payload's size: the file's size
  char name[kSpillNameBytes];  // file name in /dev/shm, NUL-terminated
};
static_assert(sizeof(SpillRefWire) == 128);

// The largest message a spill file may carry: two of the largest values
// with room for their batch (a cut batch ends with at most one large record
// after up to kBatchTargetBytes of others).
inline constexpr uint64_t kMaxSpillMessageBytes = 40ull << 20;

// "cachevault.<cluster>+spill.": the names of a cluster's spill files start
// so ('+' is not allowed in cluster names, so no other cluster's match).
std::string spill_prefix(const std::string& cluster);

// Writes p1 then p2 to a new spill file (mode 0600, created exclusively, not
// through a symlink) named from `prefix`; *ref names it. The file is the
// caller's until the ring message is sent: on a failed send, remove it.
Status spill_write(std::string_view prefix, uint16_t type, std::string_view p1, std::string_view p2,
                   SpillRefWire* ref);
// Reads the file a ring message names into *out and removes it. Everything in
// ref is untrusted: a name that is not a spill file's, a file that is not
// this user's, not mode 0600 or not of the stated size is refused (and left
// alone unless it is a well-named file of this user's).
Status spill_read(const SpillRefWire& ref, std::string* out);
// Removes a spill file the sender no longer sends.
void spill_discard(const SpillRefWire& ref);
// Removes every spill file of a cluster (at cluster down and up). Returns
// how many there were.
size_t spill_remove_all(const std::string& cluster);

}  // namespace cv::shm
