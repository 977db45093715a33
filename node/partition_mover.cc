// PartitionMover: streaming, applying and dropping moving partitions.
#include "node/partition_mover.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "node/distribution.h"
#include "shm/clock.h"
#include "shm/failpoints.h"
#include "shm/messages.h"

namespace cv::node {

namespace {
// Batches of one copy in flight at once: enough to keep the new holder busy
// while this node serves requests between sends.
constexpr int kCopyWindow = 4;
// Batches sent per loop turn and copy, and the time one turn may spend
// building them, so that requests never wait long.
constexpr int kBatchesPerStep = 2;
constexpr uint64_t kStepBudgetNs = 1'000'000;
// Copies streamed at once; the others wait their turn. With the window,
// this bounds what one source has in its receivers' mailboxes to 2 MiB.
constexpr size_t kActiveCopies = 2;
// A copy whose new holder answers nothing for this long has failed.
constexpr uint64_t kCopyStallMs = 5000;
// A receiver whose mailbox is full gets the batch on a later turn: the
// request loop never waits on it for long.
constexpr uint64_t kSendTimeoutMs = 2;
// A source's claim of a partition's size is believed up to this many records.
constexpr uint64_t kMaxPresizeRecords = 1u << 22;
}  // namespace

bool PartitionMover::dest_live(int node) const {
  return node >= 0 && node < shm::kMaxServingNodes &&
         shm::node_state_live(shm::NodeState(b_.nodes[node].state.load(std::memory_order_relaxed)));
}

void PartitionMover::reply(int to, uint64_t request, shm::MsgType type, uint64_t move_id, uint32_t partition,
                           Code code, uint64_t records) {
  shm::MoveReplyWire w{move_id, uint32_t(code), partition, records};
  Status s = link_.send(to, type, request, std::string_view(reinterpret_cast<const char*>(&w), sizeof w), 1000);
  if (!s) spdlog::warn("node {}: move {} reply to mailbox {} failed: {}", id_, move_id, to, s.message());
}

void PartitionMover::on_copy(const shm::MsgHeader& h, std::string_view payload) {
  shm::MoveWire m{};
  if (payload.size() != sizeof m) {
    spdlog::warn("node {}: dropping a malformed move request from mailbox {}", id_, h.from);
    return;
  }
  std::memcpy(&m, payload.data(), sizeof m);
  auto refuse = [&](const std::string& why) {
    spdlog::warn("node {}: move {} of partition {} refused: {}", id_, m.move_id, m.partition, why);
    reply(h.from, h.request_id, shm::MsgType::kMoveCopyReply, m.move_id, m.partition, Code::kInvalidArgument, 0);
  };
  if (m.partition >= store_.partitions()) return refuse("no such partition");
  if (m.dest == id_ || !dest_live(m.dest)) return refuse("new holder node" + std::to_string(m.dest) + " is not live");
  if (failpoint(kFpMoveCopyStart)) return refuse("failpoint " + std::string(kFpMoveCopyStart));
  for (const auto& o : out_)
    if (o.move_id == m.move_id) return;  // a repeated request: the copy is under way
  Outgoing o;
  o.move_id = m.move_id;
  o.partition = m.partition;
  o.dest = m.dest;
  o.reply_to = h.from;
  o.reply_request = h.request_id;
  o.last_progress_ns = mono_ns();
  out_.push_back(std::move(o));
}

bool PartitionMover::send_batch(Outgoing& o, uint64_t until_ns) {
  shm::BatchBuilder& bb = send_builder_;
  // The partition's size rides along so that the new holder sizes its table
  // once instead of growing it batch by batch.
  bb.reset(shm::WriteMode::kKeep, shm::Policy::kNewer, o.move_id, o.blobs.size());
  const size_t first = o.next;
  size_t i = first;
  for (; i < o.blobs.size(); ++i) {
    const RecordBlob& r = *o.blobs[i];
    if (!bb.empty() && bb.bytes() + r.key().size() + r.value().size() > shm::kBatchTargetBytes) break;
    // Reading a record whose memory is cold costs up to tens of
    // microseconds: a batch ends early rather than hold up requests.
    if (((i - first) & 7) == 7 && mono_ns() >= until_ns) break;
    shm::WireRecord w{uint16_t(r.key().size()), uint8_t(r.tombstone() ? shm::RecOp::kDelete : shm::RecOp::kPut), 0,
                      uint32_t(r.value().size()), r.version(), r.timestamp(), uint32_t(i - first), 0,
                      r.expire_ms()};
    bb.add(w, r.key(), r.value());
  }
  const uint64_t id = next_batch_++;
  Status s = link_.send(o.dest, shm::MsgType::kMoveData, id, bb.finish(), kSendTimeoutMs);
  if (!s) {
    if (s.code() == Code::kTimeout) return false;  // its mailbox is full: next turn
    o.error = "sending to node" + std::to_string(o.dest) + " failed: " + s.message();
    return false;
  }
  batches_[id] = {o.move_id, uint32_t(i - first)};
  o.next = i;
  ++o.inflight;
  return true;
}

void PartitionMover::step() {
  if (out_.empty()) return;
  const uint64_t now = mono_ns();
  size_t active = 0;
  for (auto& o : out_) {
    if (!o.error.empty()) continue;
    if (active++ >= kActiveCopies) {
      o.last_progress_ns = now;  // waiting its turn is not stalling
      continue;
    }
    if (!dest_live(o.dest)) {
      o.error = "new holder node" + std::to_string(o.dest) + " is down";
      continue;
    }
    if (!o.collected) {
      // Taken when the copy's turn comes, not when it was asked for: the
      // launcher asks for many at once, and every write since the join
      // reaches the new holder anyway.
      o.blobs = store_.collect(o.partition);
      o.collected = true;
      spdlog::info("node {}: move {}: copying partition {} ({} records) to node{}", id_, o.move_id, o.partition,
                   o.blobs.size(), o.dest);
    }
    for (int n = 0; n < kBatchesPerStep && o.inflight < kCopyWindow && o.next < o.blobs.size(); ++n)
      if (!send_batch(o, now + kStepBudgetNs) || mono_ns() - now > kStepBudgetNs) break;
    if (o.error.empty() && now - o.last_progress_ns > kCopyStallMs * 1'000'000ull)
      o.error = "node" + std::to_string(o.dest) + " did not answer for " + std::to_string(kCopyStallMs) + " ms";
  }
  for (auto it = out_.begin(); it != out_.end();) {
    Outgoing& o = *it;
    const bool done = o.error.empty() && o.collected && o.next == o.blobs.size() && o.inflight == 0;
    if (!done && o.error.empty()) {
      ++it;
      continue;
    }
    if (done && failpoint(kFpMoveCopyEnd)) o.error = "failpoint " + std::string(kFpMoveCopyEnd);
    if (o.error.empty()) {
      spdlog::info("node {}: move {}: partition {} copied to node{} ({} records)", id_, o.move_id, o.partition,
                   o.dest, o.acked);
      reply(o.reply_to, o.reply_request, shm::MsgType::kMoveCopyReply, o.move_id, o.partition, Code::kOk, o.acked);
    } else {
      spdlog::warn("node {}: move {}: copy of partition {} failed: {}", id_, o.move_id, o.partition, o.error);
      reply(o.reply_to, o.reply_request, shm::MsgType::kMoveCopyReply, o.move_id, o.partition, Code::kIoError,
            o.acked);
    }
    for (auto b = batches_.begin(); b != batches_.end();) b = b->second.first == o.move_id ? batches_.erase(b) : ++b;
    it = out_.erase(it);
  }
}

void PartitionMover::on_data_reply(const shm::MsgHeader& h, std::string_view payload) {
  auto b = batches_.find(h.request_id);
  if (b == batches_.end()) return;  // its copy ended already
  const auto [move_id, count] = b->second;
  batches_.erase(b);
  auto o = std::find_if(out_.begin(), out_.end(), [&](const Outgoing& x) { return x.move_id == move_id; });
  if (o == out_.end() || h.from != o->dest) return;
  --o->inflight;
  o->last_progress_ns = mono_ns();
  shm::BatchReader rd(payload);
  shm::WireResult res;
  uint32_t answered = 0;
  while (rd.next_result(&res)) {
    ++answered;
    const auto st = shm::RecStatus(res.status);
    if (st != shm::RecStatus::kOk && st != shm::RecStatus::kStale && o->error.empty())
      o->error = std::string("node") + std::to_string(o->dest) + " refused a record: " + shm::rec_status_name(st);
  }
  if (answered != count && o->error.empty())
    o->error = "node" + std::to_string(o->dest) + " answered " + std::to_string(answered) + " of " +
               std::to_string(count) + " records";
  o->acked += answered;
}

void PartitionMover::on_data(const shm::MsgHeader& h, std::string_view payload) {
  Incoming& in = in_.emplace_back();
  in.from = h.from;
  in.request_id = h.request_id;
  if (!spare_payloads_.empty()) {
    in.payload = std::move(spare_payloads_.back());
    spare_payloads_.pop_back();
  }
  in.payload.assign(payload);
  in.reader = shm::BatchReader(in.payload);
  in.fail = failpoint(kFpMoveReceive);
}

uint32_t PartitionMover::apply_incoming(uint64_t budget_ns) {
  if (in_.empty()) return 0;
  const uint64_t until = mono_ns() + budget_ns;
  uint32_t n = 0;
  while (!in_.empty()) {
    Incoming& in = in_.front();
    shm::WireRecord r;
    std::string_view key, value;
    bool more = in.reader.ok();
    // The clock is read every 8 records: one record may cost tens of
    // microseconds when its memory is cold (on a virtual machine).
    for (uint32_t k = 0; more; ++k) {
      if ((k & 7) == 7 && mono_ns() >= until) break;
      if (!(more = in.reader.next(&r, &key, &value))) break;
      shm::WireResult res{};
      res.index = r.index;
      if (in.fail || key.empty() || key.size() > shm::kMaxKeyBytes) {
        res.status = uint8_t(in.fail ? shm::RecStatus::kReplicaFailed : shm::RecStatus::kBadRequest);
      } else {
        const uint32_t p = partition_of(key, store_.partitions());
        if (k == 0) store_.reserve(p, std::min<uint64_t>(in.reader.header().expected_records, kMaxPresizeRecords));
        auto a = store_.apply(p, key, value, r.version, r.timestamp, r.op == uint8_t(shm::RecOp::kDelete),
                              shm::Policy::kNewer, nullptr, r.expire_ms);
        res.status = uint8_t(a == RecordStore::Apply::kFull    ? shm::RecStatus::kFull
                             : a == RecordStore::Apply::kStale ? shm::RecStatus::kStale
                                                               : shm::RecStatus::kOk);
      }
      results_.add_result(res);
      ++n;
    }
    if (more) return n;  // the slice is spent; the rest of this batch waits for the next turn
    // Every record applied (or the batch was malformed: the source counts
    // the missing answers as a failed copy).
    Status s = link_.send(in.from, shm::MsgType::kMoveDataReply, in.request_id, results_.finish(), 1000);
    if (!s) spdlog::warn("node {}: move data reply to node {} failed: {}", id_, in.from, s.message());
    results_.reset(shm::WriteMode::kAssign, shm::Policy::kNewer, 0);
    spare_payloads_.push_back(std::move(in.payload));
    in_.pop_front();
    if (mono_ns() >= until) break;
  }
  return n;
}

void PartitionMover::on_drop(const shm::MsgHeader& h, std::string_view payload) {
  DropRequest d{h.from, h.request_id, {}};
  if (payload.size() != sizeof d.move) return;
  std::memcpy(&d.move, payload.data(), sizeof d.move);
  drops_.push_back(d);
}

void PartitionMover::drop_next(const shm::TableCopy& table) {
  if (drops_.empty()) return;
  const DropRequest d = drops_.front();
  drops_.pop_front();
  const shm::MoveWire& m = d.move;
  Code code = Code::kOk;
  uint64_t dropped = 0;
  if (m.partition >= store_.partitions() || m.partition >= table.partitions) {
    code = Code::kInvalidArgument;
  } else if (table.holds(m.partition, id_) || table.joining[m.partition] == id_) {
    // The table (newer than the request, perhaps) still wants it here.
    code = Code::kInvalidArgument;
    spdlog::warn("node {}: not dropping partition {}: the table of epoch {} still lists this node", id_,
                 m.partition, table.epoch);
  } else if (store_.snapshot_pinned()) {
    code = Code::kBusy;  // a backup's copy may point at its records: later
  } else if (failpoint(kFpMoveDrop)) {
    code = Code::kIoError;
  } else {
    dropped = store_.drop_partition(m.partition);
    spdlog::info("node {}: move {}: dropped partition {} ({} records)", id_, m.move_id, m.partition, dropped);
  }
  reply(d.from, d.request_id, shm::MsgType::kMoveDropReply, m.move_id, m.partition, code, dropped);
}

}  // namespace cv::node
