// See message_decode.h.
#include "shm/message_decode.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <new>

#include "shm/mailbox.h"
#include "shm/messages.h"

namespace cv::shm {

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

uint64_t decode_payload(uint16_t type, std::string_view p) {
  const bool accepted = check_message(type, p).is_ok();
  BatchReader records(p);
  WireRecord r;
  std::string_view key, value;
  uint32_t n = 0;
  while (records.next(&r, &key, &value)) {
    require(inside(key, p) && inside(value, p));
    require(key.size() == r.key_len && value.size() == r.value_len);
    ++n;
  }
  require(!records.ok() || n <= records.header().count);
  BatchReader results(p);
  WireResult res;
  uint32_t m = 0;
  while (results.next_result(&res)) ++m;
  require(!results.ok() || m <= results.header().count);
  if (accepted && (type == uint16_t(MsgType::kWrite) || type == uint16_t(MsgType::kGet) ||
                   type == uint16_t(MsgType::kScanReply)))
    require(records.ok() && n == records.header().count);  // an accepted batch reads whole
  if (accepted && type == uint16_t(MsgType::kWriteReply)) require(results.ok() && m == results.header().count);
  return accepted ? 1 : 0;
}

// One mailbox (header and ring) for the whole process, mapped once.
struct Ring {
  MailboxHeader* header;
  char* ring;
  Ring() {
    void* mem = mmap(nullptr, sizeof(MailboxHeader) + kMailboxRingBytes, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) __builtin_trap();
    header = new (mem) MailboxHeader;
    header->producer_lock.init();
    ring = static_cast<char*>(mem) + sizeof(MailboxHeader);
    Mailbox(header, ring).open_for(getpid());
  }
};

uint64_t decode_frames(std::string_view bytes) {
  static Ring r;
  Mailbox box(r.header, r.ring);
  // Published as they are, at a place the input picks (near the ring's end
  // too, where frames must not cross it).
  uint64_t tail = r.header->tail.load();
  if (!bytes.empty() && bytes[0] & 1) {
    const uint64_t skip = kMailboxRingBytes - tail % kMailboxRingBytes - (uint8_t(bytes[0]) % 8) * 8;
    tail += skip % kMailboxRingBytes;
    r.header->head.store(tail);
  }
  const size_t n = std::min<size_t>(bytes.size(), kMailboxRingBytes);
  for (size_t i = 0; i < n; ++i) r.ring[(tail + i) % kMailboxRingBytes] = bytes[i];
  r.header->tail.store(tail + n);
  uint64_t accepted = 0;
  box.drain([&](const MsgHeader& h, std::string_view p) {
    require(h.from < kMailboxCount && p.size() + sizeof(MsgHeader) <= h.bytes);
    ++accepted;
  });
  require(box.empty());
  return accepted;
}

}  // namespace

uint64_t decode_everything(std::string_view bytes) {
  uint64_t accepted = 0;
  for (uint16_t type = 1; type <= uint16_t(MsgType::kBackupReply); ++type) accepted += decode_payload(type, bytes);
  accepted += decode_frames(bytes);
  return accepted;
}

}  // namespace cv::shm
