// Mailbox: a many-producer, one-consumer ring of messages in the block. It is
// the only request channel between cachevault processes: requests and
// replies are messages; a batch of records travels as one message.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "shm/block_layout.h"
#include "shm/clock.h"
#include "shm/status.h"

namespace cv::shm {

// Every message starts with this header, 8-byte aligned in the ring.
struct MsgHeader {
  uint32_t bytes;       // header + payload, rounded up to 8
  uint16_t type;        // MsgType (shm/messages.h); kPadType fills the ring's end
  uint16_t from;        // sender's mailbox index
  uint32_t from_generation;  // the sender's mailbox generation
  uint32_t payload_bytes;
  uint64_t request_id;  // a reply carries its request's id
  // A reply carries the generation of the mailbox owner that asked (the
  // request's from_generation), so that a later owner of the same mailbox
  // can tell a reply meant for its predecessor from its own. 0 in requests.
  uint32_t to_generation;
  uint32_t reserved;
};
static_assert(sizeof(MsgHeader) == 32);
inline constexpr uint16_t kPadType = 0xffff;

// A view of one mailbox; cheap to copy. The block must outlive it.
class Mailbox {
 public:
  // spill_prefix (shm/spill.h, the block's cluster): where a sender puts a
  // message too large for the ring; without one such a message is refused.
  Mailbox(MailboxHeader* header, char* ring, std::string_view spill_prefix = {})
      : h_(header), ring_(ring), spill_prefix_(spill_prefix) {}

  // Producer side: copies one message in. Waits for room until the deadline;
  // gives up early with kPeerDown if the consumer's pid is gone. A message
  // larger than kMaxMessageBytes goes through a spill file (shm/spill.h), up
  // to kMaxSpillMessageBytes.
  // to_generation: for a reply, the generation of the requester (see MsgHeader).
  Status send(uint16_t type, uint16_t from, uint32_t from_generation, uint64_t request_id,
              std::string_view payload, Deadline deadline, uint32_t to_generation = 0);
  // Same, with the payload given as two parts (a batch header and its body).
  Status send2(uint16_t type, uint16_t from, uint32_t from_generation, uint64_t request_id,
               std::string_view part1, std::string_view part2, Deadline deadline, uint32_t to_generation = 0);
  // The owner generation, bumped by open_for each time the mailbox changes hands.
  uint32_t generation() const { return h_->generation.load(std::memory_order_acquire); }

  // Consumer side: hands every published message to fn, in order, then frees
  // their space. The payload view is valid only inside fn. Returns the count.
  // Every frame is checked first (length, payload length, sender index,
  // check_message of shm/messages.h): a malformed message is dropped and
  // logged (rate-limited); a frame that breaks the ring's framing makes the
  // consumer skip to the tail. fn only ever sees well-formed messages. A
  // spilled message is read from its file here and reaches fn as any other.
  size_t drain(const std::function<void(const MsgHeader&, std::string_view)>& fn);
  // Sleeps until something is published or timeout_ns passes.
  void wait(uint64_t timeout_ns);
  // Wakes a consumer sleeping in wait() without publishing anything: it
  // should look at the block, where something changed.
  void wake();
  bool empty() const;

  // Claims the consumer side for this process (pid recorded for producers'
  // liveness checks), starts a new generation and drops whatever a previous
  // owner left unread.
  void open_for(int pid);

 private:
  // Drops everything up to `tail` and wakes producers waiting for room.
  void resync(uint64_t tail);

  // Reads a spilled message (a kSpillType frame) into a buffer of this
  // thread's: *mh and *payload then describe the message itself. False if
  // it cannot be read (logged).
  bool unspill(MsgHeader* mh, std::string_view* payload);
  // Sends a message that fits the ring.
  Status send_frame(uint16_t type, uint16_t from, uint32_t from_generation, uint64_t request_id,
                    std::string_view part1, std::string_view part2, Deadline deadline, uint32_t to_generation);

  MailboxHeader* h_;
  char* ring_;
  std::string_view spill_prefix_;
};

}  // namespace cv::shm
