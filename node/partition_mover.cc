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
// Batches sent per loop turn and copy, so that requests never wait long.
constexpr int kBatchesPerStep = 2;
// Copies streamed at once; the others wait their turn. With the window,
// this bounds what one source has in its receivers' mailboxes to 2 MiB.
constexpr size_t kActiveCopies = 2;
// A copy whose new holder answers nothing for this long has failed.
constexpr uint64_t kCopyStallMs = 5000;
// A receiver whose mailbox is full gets the batch on a later turn: the
// request loop never waits on it for long.
constexpr uint64_t kSendTimeoutMs = 2;
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

void PartitionMover::on_copy(const shm::MsgHeader& h, std::string_view payload, const shm::TableCopy& table) {
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
  o.blobs = store_.collect(m.partition);
  o.last_progress_ns = mono_ns();
  spdlog::info("node {}: move {}: copying partition {} ({} records) to node{}", id_, m.move_id, m.partition,
               o.blobs.size(), m.dest);
  out_.push_back(std::move(o));
}

bool PartitionMover::send_batch(Outgoing& o) {
  shm::BatchBuilder bb(shm::WriteMode::kKeep, shm::Policy::kNewer, o.move_id);
  const size_t first = o.next;
  size_t i = first;
  for (; i < o.blobs.size(); ++i) {
    const RecordBlob& r = *o.blobs[i];
    if (!bb.empty() && bb.bytes() + r.key().size() + r.value().size() > shm::kBatchTargetBytes) break;
    shm::WireRecord w{uint16_t(r.key().size()), uint8_t(r.tombstone() ? shm::RecOp::kDelete : shm::RecOp::kPut), 0,
                      uint32_t(r.value().size()), r.version(), r.timestamp(), uint32_t(i - first), 0};
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
    for (int n = 0; n < kBatchesPerStep && o.inflight < kCopyWindow && o.next < o.blobs.size(); ++n)
      if (!send_batch(o)) break;
    if (o.error.empty() && now - o.last_progress_ns > kCopyStallMs * 1'000'000ull)
      o.error = "node" + std::to_string(o.dest) + " did not answer for " + std::to_string(kCopyStallMs) + " ms";
  }
  for (auto it = out_.begin(); it != out_.end();) {
    Outgoing& o = *it;
    const bool done = o.error.empty() && o.next == o.blobs.size() && o.inflight == 0;
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

uint32_t PartitionMover::on_data(const shm::MsgHeader& h, std::string_view payload) {
  shm::BatchReader rd(payload);
  if (!rd.ok()) return 0;
  const bool fail = failpoint(kFpMoveReceive);
  shm::BatchBuilder out;
  shm::WireRecord r;
  std::string_view key, value;
  uint32_t n = 0;
  while (rd.next(&r, &key, &value)) {
    shm::WireResult res{};
    res.index = r.index;
    if (fail || key.empty() || key.size() > shm::kMaxKeyBytes) {
      res.status = uint8_t(fail ? shm::RecStatus::kReplicaFailed : shm::RecStatus::kBadRequest);
    } else {
      const uint32_t p = partition_of(key, store_.partitions());
      auto a = store_.apply(p, key, value, r.version, r.timestamp, r.op == uint8_t(shm::RecOp::kDelete),
                            shm::Policy::kNewer, nullptr);
      res.status = uint8_t(a == RecordStore::Apply::kFull ? shm::RecStatus::kFull
                                                          : a == RecordStore::Apply::kStale ? shm::RecStatus::kStale
                                                                                            : shm::RecStatus::kOk);
    }
    out.add_result(res);
    ++n;
  }
  Status s = link_.send(h.from, shm::MsgType::kMoveDataReply, h.request_id, out.finish(), 1000);
  if (!s) spdlog::warn("node {}: move data reply to node {} failed: {}", id_, h.from, s.message());
  return n;
}

void PartitionMover::on_drop(const shm::MsgHeader& h, std::string_view payload, const shm::TableCopy& table) {
  shm::MoveWire m{};
  if (payload.size() != sizeof m) return;
  std::memcpy(&m, payload.data(), sizeof m);
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
  reply(h.from, h.request_id, shm::MsgType::kMoveDropReply, m.move_id, m.partition, code, dropped);
}

}  // namespace cv::node
