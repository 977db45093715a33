// Mailbox ring: producers take the robust producer lock, copy, then publish by
// a release store of `tail`. A producer killed before publishing leaves
// nothing visible, so EOWNERDEAD needs no repair beyond marking consistent.
#include "shm/mailbox.h"

#include <cstring>

#include "shm/block.h"
#include "shm/futex.h"
#include "shm/messages.h"
#include "shm/rate_limited_log.h"
#include "shm/spill.h"

namespace cv::shm {

namespace {
constexpr uint64_t kRing = kMailboxRingBytes;
uint64_t round8(uint64_t n) { return (n + 7) & ~uint64_t(7); }
// Spins this many times before sleeping; keeps latency low on an idle core
// without burning the CPU that another process needs.
constexpr int kSpinsBeforeSleep = 64;
RateLimitedLog g_mailbox_log(1000);
}  // namespace

Status Mailbox::send(uint16_t type, uint16_t from, uint32_t gen, uint64_t request_id, std::string_view payload,
                     Deadline deadline, uint32_t to_gen) {
  return send2(type, from, gen, request_id, payload, {}, deadline, to_gen);
}

Status Mailbox::send2(uint16_t type, uint16_t from, uint32_t gen, uint64_t request_id, std::string_view p1,
                      std::string_view p2, Deadline deadline, uint32_t to_gen) {
  if (round8(sizeof(MsgHeader) + p1.size() + p2.size()) <= kMaxMessageBytes)
    return send_frame(type, from, gen, request_id, p1, p2, deadline, to_gen);
  if (spill_prefix_.empty())
    return Status::invalid("message of " + std::to_string(p1.size() + p2.size()) + " bytes is too large");
  SpillRefWire ref;
  if (Status s = spill_write(spill_prefix_, type, p1, p2, &ref); !s) return s;
  Status s = send_frame(kSpillType, from, gen, request_id,
                        std::string_view(reinterpret_cast<const char*>(&ref), sizeof ref), {}, deadline, to_gen);
  if (!s) spill_discard(ref);
  return s;
}

Status Mailbox::send_frame(uint16_t type, uint16_t from, uint32_t gen, uint64_t request_id, std::string_view p1,
                           std::string_view p2, Deadline deadline, uint32_t to_gen) {
  const uint64_t payload = p1.size() + p2.size();
  const uint64_t need = round8(sizeof(MsgHeader) + payload);
  if (need > kMaxMessageBytes) return Status::invalid("message of " + std::to_string(payload) + " bytes is too large");
  uint64_t lock_ms = deadline.remaining_ns() / 1'000'000 + 1;
  LockGuard g(h_->producer_lock, lock_ms);
  if (!g.locked()) return Status::timeout("mailbox busy: timed out waiting for the producer lock");

  const uint64_t tail = h_->tail.load(std::memory_order_relaxed);
  const uint64_t at = tail % kRing;
  const uint64_t to_end = kRing - at;
  const uint64_t total = to_end < need ? to_end + need : need;  // pad the end if the message does not fit
  for (int spins = 0;; ++spins) {
    uint64_t head = h_->head.load(std::memory_order_acquire);
    if (kRing - (tail - head) >= total) break;
    if (spins < kSpinsBeforeSleep) continue;
    // Before each sleep, not each spin: the liveness check reads /proc.
    int pid = h_->consumer_pid.load(std::memory_order_relaxed);
    if (pid == 0 || !pid_alive(pid)) return Status::peer_down("the receiving process is gone");
    if (deadline.passed()) return Status::timeout("the receiver did not make room in time");
    uint32_t seq = h_->consume_seq.load(std::memory_order_seq_cst);
    h_->producers_sleeping.store(1, std::memory_order_seq_cst);
    if (kRing - (tail - h_->head.load(std::memory_order_seq_cst)) >= total) break;
    futex_wait(&h_->consume_seq, seq, 5'000'000);  // re-check liveness every 5 ms
  }
  uint64_t pos = at;
  if (to_end < need) {
    // A tail too short for a header is skipped by the consumer on its own.
    if (to_end >= sizeof(MsgHeader)) {
      MsgHeader pad{uint32_t(to_end), kPadType, from, gen, 0, 0, 0, 0};
      std::memcpy(ring_ + pos, &pad, sizeof pad);
    }
    pos = 0;
  }
  MsgHeader mh{uint32_t(need), type, from, gen, uint32_t(payload), request_id, to_gen, 0};
  std::memcpy(ring_ + pos, &mh, sizeof mh);
  if (!p1.empty()) std::memcpy(ring_ + pos + sizeof mh, p1.data(), p1.size());
  if (!p2.empty()) std::memcpy(ring_ + pos + sizeof mh + p1.size(), p2.data(), p2.size());
  h_->tail.store(tail + total, std::memory_order_seq_cst);
  h_->publish_seq.fetch_add(1, std::memory_order_seq_cst);
  if (h_->consumer_sleeping.load(std::memory_order_seq_cst)) futex_wake(&h_->publish_seq, 1);
  return Status::ok();
}

static std::string frame_problem(const MsgHeader& mh, uint64_t head, uint64_t tail) {
  const uint64_t to_end = kRing - head % kRing;
  if (mh.type == kPadType) {
    if (mh.bytes != to_end)
      return "a pad frame of " + std::to_string(mh.bytes) + " bytes where " + std::to_string(to_end) +
             " were left to the ring's end";
    // A producer publishes a pad together with the message after it, so the
    // tail is always past the pad; one that ends beyond the tail would move
    // the head past it (and the free-space sums of producers below zero).
    if (mh.bytes > tail - head)
      return "a pad frame of " + std::to_string(mh.bytes) + " bytes past the published end";
    return {};
  }
  if (mh.bytes < sizeof(MsgHeader) || mh.bytes % 8 != 0)
    return "a frame length of " + std::to_string(mh.bytes) + " bytes";
  if (mh.bytes > kMaxMessageBytes || mh.bytes > to_end || mh.bytes > tail - head)
    return "a frame of " + std::to_string(mh.bytes) + " bytes past the published end or the ring's";
  if (round8(sizeof(MsgHeader) + uint64_t(mh.payload_bytes)) != mh.bytes)
    return "a payload length of " + std::to_string(mh.payload_bytes) + " bytes in a frame of " +
           std::to_string(mh.bytes);
  return {};
}

namespace {
// The receiving process's buffer for spilled messages: one message at a
// time is handed on, so one buffer serves them all (a thread's own, for the
// processes that drain on several threads).
thread_local std::string t_spilled;
}  // namespace

bool Mailbox::unspill(MsgHeader* mh, std::string_view* payload) {
  SpillRefWire ref;
  if (payload->size() != sizeof ref) {
    g_mailbox_log.warn("mailbox of pid {}: dropped a spill message of {} bytes from mailbox {}",
                       h_->consumer_pid.load(), payload->size(), mh->from);
    return false;
  }
  std::memcpy(&ref, payload->data(), sizeof ref);
  if (Status s = spill_read(ref, &t_spilled); !s) {
    g_mailbox_log.warn("mailbox of pid {}: dropped a spilled message of type {} from mailbox {}: {}",
                       h_->consumer_pid.load(), ref.type, mh->from, s.message());
    return false;
  }
  mh->type = ref.type;
  mh->payload_bytes = uint32_t(t_spilled.size());
  *payload = t_spilled;
  return true;
}

size_t Mailbox::drain(const std::function<void(const MsgHeader&, std::string_view)>& fn) {
  const uint64_t tail = h_->tail.load(std::memory_order_acquire);
  const uint64_t start = h_->head.load(std::memory_order_relaxed);
  uint64_t head = start;
  size_t n = 0;
  // Everything here was written by another process: a frame that does not
  // add up means the ring's framing is lost, and nothing after it can be
  // trusted to start a frame. The consumer then skips to the tail (what was
  // published so far is dropped; senders time out and retry) instead of
  // reading past the ring or spinning on a zero length.
  if (tail < start || tail - start > kRing) {
    g_mailbox_log.warn("mailbox of pid {}: head {} and tail {} are {} bytes apart in a {}-byte ring; skipping to the tail",
                       h_->consumer_pid.load(), start, tail, tail - start, kRing);
    resync(tail);
    return 0;
  }
  while (head < tail) {
    if (kRing - head % kRing < sizeof(MsgHeader)) {
      head += kRing - head % kRing;  // too short for a header: skipped by both sides
      if (head > tail) {
        g_mailbox_log.warn("mailbox of pid {}: the tail stops short of the ring's end; skipping to the tail",
                           h_->consumer_pid.load());
        head = tail;
      }
      continue;
    }
    MsgHeader mh;
    std::memcpy(&mh, ring_ + head % kRing, sizeof mh);
    if (std::string bad = tail - head < sizeof mh ? "a frame shorter than its header"
                                                   : frame_problem(mh, head, tail);
        !bad.empty()) {
      g_mailbox_log.warn("mailbox of pid {}: corrupt ring at offset {}: {}; dropped {} bytes up to the tail",
                         h_->consumer_pid.load(), head % kRing, bad, tail - head);
      head = tail;
      break;
    }
    if (mh.type != kPadType) {
      std::string_view payload(ring_ + head % kRing + sizeof mh, mh.payload_bytes);
      if (mh.type == kSpillType && mh.from < kMailboxCount && !unspill(&mh, &payload)) {
        // Dropped (and logged) by unspill.
      } else if (mh.from >= kMailboxCount) {
        g_mailbox_log.warn("mailbox of pid {}: dropped a message of type {} from mailbox {}, which does not exist",
                           h_->consumer_pid.load(), mh.type, mh.from);
      } else if (Status ok = check_message(mh.type, payload); !ok) {
        g_mailbox_log.warn("mailbox of pid {}: dropped a malformed message of type {} from mailbox {}: {}",
                           h_->consumer_pid.load(), mh.type, mh.from, ok.message());
      } else {
        fn(mh, payload);
        ++n;
      }
    }
    head += mh.bytes;
    // Free space as we go so producers blocked on a full ring resume early.
    h_->head.store(head, std::memory_order_seq_cst);
  }
  h_->head.store(head, std::memory_order_seq_cst);
  if (head != start) {
    h_->consume_seq.fetch_add(1, std::memory_order_seq_cst);
    if (h_->producers_sleeping.exchange(0, std::memory_order_seq_cst)) futex_wake(&h_->consume_seq, 1 << 30);
  }
  return n;
}

void Mailbox::resync(uint64_t tail) {
  h_->head.store(tail, std::memory_order_seq_cst);
  h_->consume_seq.fetch_add(1, std::memory_order_seq_cst);
  if (h_->producers_sleeping.exchange(0, std::memory_order_seq_cst)) futex_wake(&h_->consume_seq, 1 << 30);
}

bool Mailbox::empty() const {
  return h_->head.load(std::memory_order_acquire) == h_->tail.load(std::memory_order_acquire);
}

void Mailbox::wait(uint64_t timeout_ns) {
  for (int i = 0; i < kSpinsBeforeSleep; ++i)
    if (!empty()) return;
  uint32_t seq = h_->publish_seq.load(std::memory_order_seq_cst);
  h_->consumer_sleeping.store(1, std::memory_order_seq_cst);
  if (empty()) futex_wait(&h_->publish_seq, seq, timeout_ns);
  h_->consumer_sleeping.store(0, std::memory_order_seq_cst);
}

void Mailbox::wake() {
  h_->publish_seq.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&h_->publish_seq, 1);
}

void Mailbox::open_for(int pid) {
  // A new generation first: a reply to the previous owner sent from now on
  // carries the old one and is dropped by the new owner. Then drop unread
  // messages of the previous owner: they were meant for a process that no
  // longer exists.
  h_->generation.fetch_add(1, std::memory_order_seq_cst);
  h_->head.store(h_->tail.load(std::memory_order_acquire), std::memory_order_seq_cst);
  h_->consumer_pid.store(pid, std::memory_order_seq_cst);
}

}  // namespace cv::shm
