// ServingNode request loop and write coordination.
#include "node/serving_node.h"

#include <malloc.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "node/backup_worker.h"
#include "node/distribution.h"
#include "node/redis_frontend.h"
#include "node/write_ops.h"
#include "shm/clock.h"
#include "shm/expiry.h"
#include "shm/failpoints.h"
#include "shm/process_start.h"
#include "shm/rate_limited_log.h"

namespace cv::node {

using shm::BatchBuilder;
using shm::BatchReader;
using shm::MsgType;
using shm::RecStatus;
using shm::WireRecord;
using shm::WireResult;

namespace {
using shm::kReplicaTimeoutMs;
constexpr int kMaxVersionRetries = 3;
// Allocations from this size on get a mapping of their own (glibc's largest
// setting); free memory at the heap's top kept before any goes back to the
// kernel; the extra taken whenever the heap grows (see run_serving_node).
constexpr size_t kHeapMmapThresholdBytes = size_t(32) << 20;
constexpr size_t kHeapTrimThresholdBytes = size_t(1) << 30;
constexpr size_t kHeapTopPadBytes = size_t(64) << 20;
// Moved records applied per loop turn: short enough that a write arriving
// meanwhile waits little, long enough that the loop's other work is small
// beside it.
constexpr uint64_t kMoveApplySliceNs = 500'000;
// Records of dropped partitions freed per loop turn (see the loop's wait).
constexpr uint64_t kFreeSliceNs = 500'000;
// Expired records looked for and forgotten per loop turn, and how often a
// sweep runs while requests keep the loop busy: like freeing, a short
// slice between requests, never a long stall.
constexpr uint64_t kSweepSliceNs = 300'000;
constexpr uint64_t kSweepEveryNs = 10'000'000;

// How long a reply to mailbox `to` may wait for room: briefly for a client
// (a slow one must not stall the request loop; it times out and retries),
// longer for a peer node, which drains its mailbox all the time.
uint64_t reply_timeout_ms(int to) {
  return to >= shm::kFirstClientMailbox ? shm::kClientReplySendTimeoutMs : shm::kPeerReplySendTimeoutMs;
}
shm::RateLimitedLog g_reply_log(1000);
void log_failed_reply(int node, const char* what, int to, const Status& s) {
  if (!s) g_reply_log.warn("node {}: {} reply to mailbox {} dropped: {}", node, what, to, s.message());
}

bool is_failure(RecStatus s) { return s != RecStatus::kOk && s != RecStatus::kStale; }

// Folds a replica's answer into a record's status: any failure wins, then
// "applied somewhere" beats "stale everywhere".
RecStatus combine(RecStatus a, RecStatus b) {
  if (is_failure(a)) return a;
  if (is_failure(b)) return b;
  return (a == RecStatus::kOk || b == RecStatus::kOk) ? RecStatus::kOk : RecStatus::kStale;
}

RecStatus from_apply(RecordStore::Apply a) {
  switch (a) {
    case RecordStore::Apply::kApplied: return RecStatus::kOk;
    case RecordStore::Apply::kStale: return RecStatus::kStale;
    case RecordStore::Apply::kFull: return RecStatus::kFull;
  }
  return RecStatus::kBadRequest;
}
}  // namespace

ServingNode::ServingNode(shm::Block& block, int id)
    : block_(block),
      b_(block.layout()),
      id_(id),
      store_(block.layout().config.partitions, block.layout().config.node_memory),
      link_(block, id, 0),
      inbox_(&block.layout().mailboxes[id], block.ring(id)),
      mover_(block, id, store_, link_),
      fwd_(shm::kMaxServingNodes),
      fwd_idx_(shm::kMaxServingNodes) {
  backup_ = std::make_unique<BackupWorker>(block, id, store_);
}

ServingNode::~ServingNode() = default;

bool ServingNode::node_up(int node) const {
  return node >= 0 && node < shm::kMaxServingNodes &&
         shm::node_state_live(shm::NodeState(b_.nodes[node].state.load(std::memory_order_relaxed)));
}

void ServingNode::adopt_table() {
  shm::refresh_table(b_, &table_);
  shm::NodeSlot& me = b_.nodes[id_];
  if (me.adopted_epoch.load(std::memory_order_relaxed) != table_.epoch)
    me.adopted_epoch.store(table_.epoch, std::memory_order_release);
}

void ServingNode::stamp_counts() {
  shm::NodeSlot& me = b_.nodes[id_];
  me.records.store(store_.records(), std::memory_order_relaxed);
  me.bytes.store(store_.bytes(), std::memory_order_relaxed);
}

int ServingNode::run(const std::atomic<bool>& stop) {
  inbox_.open_for(getpid());
  link_.set_generation(b_.mailboxes[id_].generation.load());
  adopt_table();
  shm::NodeSlot& me = b_.nodes[id_];
  me.heartbeat_ns.store(mono_ns());
  // A node the launcher starts into a running cluster is joining: it stays
  // so until it holds its partitions' data, which the launcher decides.
  uint32_t starting = uint32_t(shm::NodeState::kStarting);
  me.state.compare_exchange_strong(starting, uint32_t(shm::NodeState::kUp));
  me.ready.store(1);
  block_.notify_change();
  spdlog::info("serving node {} up, pid {}, {} partitions", id_, getpid(), b_.config.partitions);
  // The heartbeat says "this node makes progress": stamped as messages are
  // handled, not only between drains, so a long drain is not taken for a
  // stuck loop.
  uint64_t last_beat = 0;
  auto handler = [this, &me, &last_beat](const shm::MsgHeader& h, std::string_view p) {
    handle(h, p);
    if (const uint64_t now = mono_ns(); now - last_beat >= shm::kDrainHeartbeatMs * 1'000'000ull) {
      last_beat = now;
      if (!failpoint(kFpNodeHeartbeat)) me.heartbeat_ns.store(now, std::memory_order_relaxed);
    }
  };
  while (!stop.load(std::memory_order_relaxed) && !b_.header.shutting_down.load(std::memory_order_relaxed)) {
    size_t n = inbox_.drain(handler);
    adopt_table();
    mover_.step();
    if (mover_.drop_pending()) {
      shm::refresh_table(b_, &table_);
      mover_.drop_next(table_);
      stamp_counts();
    }
    apply_moved_records();
    const bool freeing = store_.free_dropped(kFreeSliceNs);
    sweep_expired();
    if (mono_ns() - last_tick_ns_ > 20'000'000ull) {
      tick();
    } else if (const uint32_t change = b_.header.change_seq.load(std::memory_order_relaxed); change != seen_change_) {
      // A schedule may have moved on (a target wakes the nodes for that).
      seen_change_ = change;
      backup_->poll();
    }
    backup_->step();
    // Freeing dropped records waits for nothing and is paced: a slice, then
    // a pause in which requests (and other processes) have the core.
    if (n == 0 && !backup_->capturing() && !mover_.receiving() && !mover_.drop_pending())
      inbox_.wait(mover_.copying() || freeing ? 1'000'000ull : pending_.empty() ? 50'000'000ull : 5'000'000ull);
    // Between capture slices, hand the core to any process waiting for
    // one: with several nodes capturing at once on few cores, another
    // node's request loop would otherwise wait for a scheduler tick.
    else if (backup_->capturing()) sched_yield();
  }
  backup_->stop();
  spdlog::info("serving node {} stopping: {} records, {} bytes", id_, store_.records(), store_.bytes());
  return 0;
}

void ServingNode::sweep_expired() {
  if (store_.expiring() == 0) return;
  const uint64_t now = mono_ns();
  if (now - last_sweep_ns_ < kSweepEveryNs) return;
  last_sweep_ns_ = now;
  // A partition being moved here may still receive older copies of keys
  // whose newer, expired version it holds: forgetting that version would
  // let the older copy in. Its sweep waits for the move's end.
  // Nor does a partition that a scan is paging through: it resumes by
  // counting the partition's records, which a sweep would shift.
  auto held = [this, now](uint32_t p) {
    return (p < table_.joining.size() && table_.joining[p] == id_) || scan_holds(p, now);
  };
  if (store_.sweep_expired(kSweepSliceNs, shm::wall_ms(), held) > 0) stamp_counts();
}

void ServingNode::apply_moved_records() {
  if (!mover_.receiving()) return;
  const uint64_t start = mono_ns();
  const uint32_t n = mover_.apply_incoming(kMoveApplySliceNs);
  if (n == 0) return;
  requests_ += n;
  busy_ns_ += mono_ns() - start;
  b_.nodes[id_].service_ns_per_record.store(busy_ns_ / requests_, std::memory_order_relaxed);
  stamp_counts();
}

void ServingNode::handle(const shm::MsgHeader& h, std::string_view payload) {
  const uint64_t start = mono_ns();
  const uint64_t before = requests_;
  switch (MsgType(h.type)) {
    case MsgType::kWrite: on_write(h, payload); break;
    case MsgType::kReplicate: on_replicate(h, payload); break;
    case MsgType::kReplicateReply: on_replicate_reply(h, payload); break;
    case MsgType::kGet: on_get(h, payload); break;
    case MsgType::kScan: on_scan(h, payload); break;
    case MsgType::kBackupRequest: on_backup_request(h, payload); break;
    case MsgType::kMoveCopy: mover_.on_copy(h, payload); break;
    case MsgType::kMoveData: mover_.on_data(h, payload); break;
    case MsgType::kMoveDataReply: mover_.on_data_reply(h, payload); break;
    case MsgType::kMoveDrop: mover_.on_drop(h, payload); break;
    default: spdlog::warn("node {}: ignoring message type {} from mailbox {}", id_, h.type, h.from); break;
  }
  // The node's measured speed: time per record handled since it started. Slow
  // steps (a delay, a busy core) raise it; `rebalance --by measured` then
  // gives the node a smaller share.
  if (requests_ != before) {
    busy_ns_ += mono_ns() - start;
    b_.nodes[id_].service_ns_per_record.store(busy_ns_ / requests_, std::memory_order_relaxed);
  }
}

void ServingNode::on_write(const shm::MsgHeader& h, std::string_view payload) {
  BatchReader rd(payload);
  if (!rd.ok()) return;
  // The Redis front end's read-modify-write records become plain writes
  // here, at the primary (node/write_ops.cc); their answers go back with it.
  std::string rewritten;
  std::vector<ValueReply> values;
  const bool want_values = rd.header().flags & shm::kBatchWantValues;
  if (want_values) {
    shm::refresh_table(b_, &table_);
    const bool usable = !table_.owners.empty() && table_.partitions == store_.partitions();
    auto is_primary = [&](uint32_t p) { return usable && table_.owners[p][0] == id_; };
    if (!evaluate_write_ops(store_, payload, is_primary, &rewritten, &values)) return;
    payload = rewritten;
    rd = BatchReader(payload);
  }
  const auto mode = shm::WriteMode(rd.header().mode);
  const auto policy = shm::Policy(rd.header().policy);
  // A restore uses the table as it is: the launcher keeps it balanced for
  // the nodes up now, and changes it only by moving data first.
  shm::refresh_table(b_, &table_);
  if (mode == shm::WriteMode::kKeep) presize_for_restore(rd.header().tag, rd.header().expected_records);

  const uint64_t op_id = next_op_++;
  PendingWrite op;
  op.client = h.from;
  op.client_generation = h.from_generation;
  op.client_request = h.request_id;
  op.mode = mode;
  op.policy = policy;
  op.want_values = want_values;
  op.values = std::move(values);
  op.results.resize(rd.header().count);
  if (mode == shm::WriteMode::kAssign) {
    op.payload.assign(payload);
    op.record_offset.resize(rd.header().count);
    op.retries.resize(rd.header().count);
  }
  reset_forwarding(mode == shm::WriteMode::kAssign ? shm::Policy::kNewer : policy,
                   mode == shm::WriteMode::kKeep ? rd.header().tag : 0,
                   mode == shm::WriteMode::kKeep ? rd.header().expected_records : 0);
  auto& builders = fwd_;
  auto& indices = fwd_idx_;
  if (!table_.owners.empty() && table_.partitions == store_.partitions()) index_batch(payload, table_.partitions);
  else batch_keys_.clear();

  WireRecord r;
  std::string_view key, value;
  uint32_t i = 0;
  size_t before = sizeof(shm::BatchHeader);
  const bool forwarding_fails = failpoint(mode == shm::WriteMode::kKeep ? kFpRestoreEntryForward : kFpNodeForward);
  for (; i < op.results.size() && rd.next(&r, &key, &value); ++i) {
    if (mode == shm::WriteMode::kAssign) op.record_offset[i] = uint32_t(before);
    before += sizeof(WireRecord) + key.size() + value.size();
    WireResult& res = op.results[i];
    res.index = r.index;
    if (key.empty() || key.size() > shm::kMaxKeyBytes || value.size() > shm::kMaxValueBytes || table_.owners.empty()) {
      res.status = uint8_t(RecStatus::kBadRequest);
      continue;
    }
    prefetch_ahead(i);
    const uint32_t p = partition_at(i, key, table_.partitions);
    const auto& owners = table_.owners[p];
    const bool tomb = r.op == uint8_t(shm::RecOp::kDelete);
    if (table_.lost[p]) {
      res.status = uint8_t(RecStatus::kLost);
      continue;
    }
    const bool self_owner = table_.holds(p, id_);
    // A restore record the entry node does not hold is done only if some
    // replica applies it: start from "stale" so replicas' answers decide.
    RecStatus st = self_owner || mode == shm::WriteMode::kAssign ? RecStatus::kOk : RecStatus::kStale;
    if (mode == shm::WriteMode::kAssign) {
      if (owners[0] != id_) {
        res.status = uint8_t(RecStatus::kWrongNode);
        continue;
      }
      StoredRecord assigned;
      st = from_apply(store_.assign(p, key, value, tomb, wall_ns(), &assigned, r.expire_ms));
      r.version = assigned.version;
      r.timestamp = assigned.timestamp;
    } else if (self_owner) {
      StoredRecord existing;
      auto a = store_.apply(p, key, value, r.version, r.timestamp, tomb, policy, &existing, r.expire_ms, shm::wall_ms());
      st = from_apply(a);
    }
    res.version = r.version;
    res.timestamp = r.timestamp;
    res.status = uint8_t(st);
    if (is_failure(st)) continue;
    for_each_peer(p, [&](int o) {
      if (!node_up(o) || forwarding_fails) {
        // A joining holder that died takes its move with it: the launcher
        // rolls the move back, so the write does not need it.
        if (o != owners[0] && !table_.holds(p, o) && !forwarding_fails) return;
        res.status = uint8_t(combine(RecStatus(res.status), RecStatus::kNodeDown));
        return;
      }
      WireRecord fw = r;
      fw.index = i;
      builders[o].add(fw, key, value);
      indices[o].push_back(i);
    });
  }
  requests_ += op.results.size();
  op.deadline_ns = mono_ns() + kReplicaTimeoutMs * 1'000'000ull;
  auto [it, _] = pending_.emplace(op_id, std::move(op));
  forward(op_id, it->second, builders, indices);
  finish_if_done(op_id);
}

void ServingNode::index_batch(std::string_view payload, uint32_t partitions) {
  batch_keys_.clear();
  BatchReader rd(payload);
  WireRecord r;
  std::string_view key, value;
  while (rd.next(&r, &key, &value)) {
    const uint32_t p = key.empty() ? 0 : partition_of(key, partitions);
    // A key the apply loop refuses is not looked up either.
    const bool valid = !key.empty() && key.size() <= shm::kMaxKeyBytes;
    batch_keys_.push_back(BatchKey{valid ? key : std::string_view(), p});
    if (valid && batch_keys_.size() <= kPrefetchAhead) store_.prefetch(p, key);
  }
}

void ServingNode::reset_forwarding(shm::Policy policy, uint64_t restore_tag, uint64_t expected_records) {
  // Reused across batches: clearing keeps each buffer's capacity.
  for (auto& b : fwd_) b.reset(shm::WriteMode::kKeep, policy, restore_tag, expected_records);
  for (auto& i : fwd_idx_) i.clear();
}

void ServingNode::forward(uint64_t op_id, PendingWrite& op, std::vector<BatchBuilder>& builders,
                          std::vector<std::vector<uint32_t>>& indices) {
  for (size_t o = 0; o < builders.size(); ++o) {
    if (builders[o].empty()) continue;
    const uint64_t sub = op.awaiting.size();
    builders[o].set_epoch(table_.epoch);
    Status s = link_.send(int(o), MsgType::kReplicate, (op_id << 8) | sub, builders[o].finish(), kReplicaTimeoutMs);
    if (!s) {
      spdlog::warn("node {}: forwarding {} records to node {} failed: {}", id_, indices[o].size(), o, s.message());
      const RecStatus fail = s.code() == Code::kTimeout ? RecStatus::kTimeout : RecStatus::kNodeDown;
      for (uint32_t i : indices[o]) op.results[i].status = uint8_t(combine(RecStatus(op.results[i].status), fail));
      continue;
    }
    op.awaiting.push_back({int(o), false, std::move(indices[o])});
    ++op.outstanding;
  }
}

void ServingNode::on_replicate(const shm::MsgHeader& h, std::string_view payload) {
  BatchReader rd(payload);
  if (!rd.ok()) return;
  const auto policy = shm::Policy(rd.header().policy);
  BatchBuilder out;
  WireRecord r;
  std::string_view key, value;
  // Forwarded restore writes carry the restore's tag; client writes carry 0.
  const bool fail_apply = failpoint(rd.header().tag != 0 ? kFpRestoreReplicaApply : kFpNodeReplicaApply);
  if (fail_apply) spdlog::warn("node {}: failing {} forwarded writes (failpoint)", id_, rd.header().count);
  presize_for_restore(rd.header().tag, rd.header().expected_records);
  if (!fail_apply) index_batch(payload, store_.partitions());
  else batch_keys_.clear();
  for (uint32_t i = 0; rd.next(&r, &key, &value); ++i) {
    WireResult res{};
    res.index = r.index;
    if (fail_apply) {
      res.status = uint8_t(RecStatus::kReplicaFailed);
    } else if (key.empty() || key.size() > shm::kMaxKeyBytes) {
      res.status = uint8_t(RecStatus::kBadRequest);
    } else {
      prefetch_ahead(i);
      const uint32_t p = partition_at(i, key, store_.partitions());
      StoredRecord existing;
      // The primary (or a restore) knows better than an expired record
      // here: that key is gone.
      auto a = store_.apply(p, key, value, r.version, r.timestamp, r.op == uint8_t(shm::RecOp::kDelete), policy,
                            &existing, r.expire_ms, shm::wall_ms());
      res.status = uint8_t(from_apply(a));
      res.version = a == RecordStore::Apply::kStale ? existing.version : r.version;
      res.timestamp = a == RecordStore::Apply::kStale ? existing.timestamp : r.timestamp;
      // The very same write held already (a partition copy brought it
      // first): applied, not stale.
      if (rd.header().tag == 0 && a == RecordStore::Apply::kStale && existing.version == r.version &&
          existing.timestamp == r.timestamp)
        res.status = uint8_t(RecStatus::kOk);
    }
    out.add_result(res);
  }
  requests_ += out.count();
  stamp_counts();
  if (failpoint(kFpNodeReply)) return;
  Status s = link_.reply(h, MsgType::kReplicateReply, out.finish(), reply_timeout_ms(h.from));
  if (!s) spdlog::warn("node {}: reply to node {} failed: {}", id_, h.from, s.message());
}

void ServingNode::on_replicate_reply(const shm::MsgHeader& h, std::string_view payload) {
  const uint64_t op_id = h.request_id >> 8;
  const uint64_t sub = h.request_id & 0xff;
  auto it = pending_.find(op_id);
  if (it == pending_.end()) return;  // answered already (timed out)
  PendingWrite& op = it->second;
  if (sub >= op.awaiting.size() || op.awaiting[sub].done) return;
  op.awaiting[sub].done = true;
  --op.outstanding;
  BatchReader rd(payload);
  WireResult res;
  bool failed = false;
  while (rd.next_result(&res)) {
    if (res.index >= op.results.size()) continue;
    const auto st = RecStatus(res.status);
    if (op.mode == shm::WriteMode::kAssign && st == RecStatus::kStale) {
      // The replica holds a newer version than this primary knew (the
      // partition moved here after a failure): re-issue above it.
      retry_stale(op_id, op, res.index, res.version);
      continue;
    }
    WireResult& mine = op.results[res.index];
    mine.status = uint8_t(combine(RecStatus(mine.status), st));
    if (st == RecStatus::kReplicaFailed || st == RecStatus::kFull || st == RecStatus::kBadRequest) failed = true;
  }
  // A replica that did not take a write now differs from this primary: the
  // launcher fences a node that keeps doing so and replaces its copies.
  const int peer = op.awaiting[sub].peer;
  if (failed && peer >= 0 && peer < shm::kMaxServingNodes) {
    b_.nodes[peer].replica_failures.fetch_add(1, std::memory_order_relaxed);
    block_.notify_change();
  }
  finish_if_done(op_id);
}

void ServingNode::retry_stale(uint64_t op_id, PendingWrite& op, uint32_t index, uint64_t seen_version) {
  WireResult& res = op.results[index];
  if (op.retries[index]++ >= kMaxVersionRetries) {
    res.status = uint8_t(combine(RecStatus(res.status), RecStatus::kTimeout));
    return;
  }
  WireRecord r;
  std::memcpy(&r, op.payload.data() + op.record_offset[index], sizeof r);
  std::string_view key(op.payload.data() + op.record_offset[index] + sizeof r, r.key_len);
  std::string_view value(key.data() + r.key_len, r.value_len);
  const uint32_t p = partition_of(key, table_.partitions);
  r.version = std::max(seen_version, res.version) + 1;
  r.timestamp = std::max(wall_ns(), res.timestamp + 1);
  store_.apply(p, key, value, r.version, r.timestamp, r.op == uint8_t(shm::RecOp::kDelete), shm::Policy::kOverwrite,
               nullptr, r.expire_ms);
  res.version = r.version;
  res.timestamp = r.timestamp;
  reset_forwarding(shm::Policy::kNewer, 0);
  auto& builders = fwd_;
  auto& indices = fwd_idx_;
  for_each_peer(p, [&](int o) {
    if (!node_up(o)) return;
    WireRecord fw = r;
    fw.index = index;
    builders[o].add(fw, key, value);
    indices[o].push_back(index);
  });
  forward(op_id, op, builders, indices);
}

void ServingNode::finish_if_done(uint64_t op_id) {
  auto it = pending_.find(op_id);
  if (it == pending_.end() || it->second.outstanding > 0) return;
  reply_write(it->second);
  pending_.erase(it);
}

void ServingNode::reply_write(PendingWrite& op) {
  stamp_counts();
  if (failpoint(op.mode == shm::WriteMode::kKeep ? kFpRestoreStatusReturn : kFpNodeReply)) return;
  BatchBuilder out;
  std::string values;
  if (op.want_values) values = encode_value_replies(op.values, op.results);
  else for (const auto& r : op.results) out.add_result(r);
  Status s = link_.reply_to(op.client, op.client_generation, op.client_request,
                            op.want_values ? MsgType::kWriteValuesReply : MsgType::kWriteReply,
                            op.want_values ? std::string_view(values) : out.finish(), reply_timeout_ms(op.client));
  if (!s) spdlog::warn("node {}: reply to client mailbox {} failed: {}", id_, op.client, s.message());
}

void ServingNode::expire_pending() {
  const uint64_t now = mono_ns();
  for (auto it = pending_.begin(); it != pending_.end();) {
    PendingWrite& op = it->second;
    if (now < op.deadline_ns) {
      ++it;
      continue;
    }
    for (auto& a : op.awaiting) {
      if (a.done) continue;
      const RecStatus why = node_up(a.peer) ? RecStatus::kTimeout : RecStatus::kNodeDown;
      for (uint32_t i : a.indices) op.results[i].status = uint8_t(combine(RecStatus(op.results[i].status), why));
    }
    spdlog::warn("node {}: write batch from mailbox {} timed out waiting for replicas", id_, op.client);
    reply_write(op);
    it = pending_.erase(it);
  }
}

void ServingNode::on_get(const shm::MsgHeader& h, std::string_view payload) {
  BatchReader rd(payload);
  BatchBuilder out;
  WireRecord r;
  std::string_view key, value;
  const uint64_t now_ms = shm::wall_ms();
  bool reclaimed = false;
  while (rd.next(&r, &key, &value)) {
    WireRecord o{};
    o.index = r.index;
    o.key_len = uint16_t(key.size());  // the key travels back with every answer, found or not
    const bool valid = !key.empty() && key.size() <= shm::kMaxKeyBytes;
    const uint32_t p = valid ? partition_of(key, store_.partitions()) : 0;
    if (valid && p < table_.lost.size() && table_.lost[p]) {
      o.status = uint8_t(RecStatus::kLost);
      out.add(o, key, {});
      continue;
    }
    auto rec = valid ? store_.get(p, key) : std::nullopt;
    // An expired record is not there; the read reclaims it (lazily).
    if (rec && shm::is_expired(rec->expire_ms, now_ms)) {
      if (!scan_holds(p, mono_ns())) reclaimed |= store_.erase_if_expired(p, key, now_ms);
      rec.reset();
    }
    if (!rec) {
      o.status = uint8_t(RecStatus::kNotFound);
      out.add(o, key, {});
      continue;
    }
    o.status = uint8_t(RecStatus::kOk);
    o.op = uint8_t(rec->tombstone ? shm::RecOp::kDelete : shm::RecOp::kPut);
    o.version = rec->version;
    o.timestamp = rec->timestamp;
    o.expire_ms = rec->expire_ms;
    o.key_len = uint16_t(key.size());
    o.value_len = uint32_t(rec->value.size());
    // Many large values would not fit one message: send what is built,
    // marked as followed by more (shm::kGetReplyMore).
    if (!out.empty() && out.bytes() + sizeof o + key.size() + rec->value.size() > shm::kGetReplySplitBytes) {
      out.set_tag(shm::kGetReplyMore);
      link_.reply(h, MsgType::kGetReply, out.finish(), reply_timeout_ms(h.from));
      out.reset(shm::WriteMode::kAssign, shm::Policy::kNewer, 0);
    }
    out.add(o, key, rec->value);
  }
  requests_ += out.count();
  if (reclaimed) stamp_counts();
  log_failed_reply(id_, "get", h.from, link_.reply(h, MsgType::kGetReply, out.finish(), reply_timeout_ms(h.from)));
}

void ServingNode::on_scan(const shm::MsgHeader& h, std::string_view payload) {
  BatchReader rd(payload);
  // Cursor: partition in the high half, records to skip within it in the low.
  uint64_t cursor = rd.ok() ? rd.header().tag : 0;
  uint32_t p = uint32_t(cursor >> 32);
  uint64_t skip = cursor & 0xffffffffu;
  BatchBuilder out;
  bool full = false;
  const uint64_t now_ms = shm::wall_ms();
  while (p < store_.partitions() && !full) {
    uint64_t seen = 0;
    store_.for_each(p, [&](std::string_view k, const RecordRef& rec) {
      if (full || seen++ < skip) return;
      if (shm::is_expired(rec.expire_ms, now_ms)) {
        ++skip;  // still counted: the cursor counts records held
        return;
      }
      if (out.bytes() + k.size() + rec.value.size() > shm::kBatchTargetBytes && !out.empty()) {
        full = true;
        return;
      }
      WireRecord o{uint16_t(k.size()), uint8_t(rec.tombstone ? shm::RecOp::kDelete : shm::RecOp::kPut),
                   uint8_t(RecStatus::kOk), uint32_t(rec.value.size()), rec.version, rec.timestamp, 0, 0,
                   rec.expire_ms};
      out.add(o, k, rec.value);
      ++skip;
    });
    if (!full) {
      ++p;
      skip = 0;
    }
  }
  if (p < store_.partitions() && skip > 0) {
    // The next page counts this partition's records from its start: keep
    // expired ones in place meanwhile (a scan that stops just lets it lapse).
    constexpr uint64_t kScanHoldNs = 30'000'000'000ull;
    if (scan_hold_until_ns_.size() != store_.partitions()) scan_hold_until_ns_.assign(store_.partitions(), 0);
    scan_hold_until_ns_[p] = mono_ns() + kScanHoldNs;
  }
  out.set_tag(p >= store_.partitions() ? UINT64_MAX : (uint64_t(p) << 32) | skip);
  log_failed_reply(id_, "scan", h.from, link_.reply(h, MsgType::kScanReply, out.finish(), reply_timeout_ms(h.from)));
}

void ServingNode::on_backup_request(const shm::MsgHeader& h, std::string_view payload) {
  shm::BackupReplyWire reply{};
  std::string message;
  // Payload: the output directory, then optionally NUL and the options
  // (a path holds no NUL).
  const size_t nul = payload.find('\0');
  const std::string out_dir(payload.substr(0, nul));
  const bool allow_partial = nul != std::string_view::npos && payload.substr(nul + 1) == shm::kBackupAllowPartial;
  Status s = backup_->create_schedule(out_dir, allow_partial, &reply.schedule_id);
  reply.code = uint32_t(s.code());
  message = s.message();
  std::string out(reinterpret_cast<const char*>(&reply), sizeof reply);
  out += message;
  log_failed_reply(id_, "backup", h.from, link_.reply(h, MsgType::kBackupReply, out, reply_timeout_ms(h.from)));
}

void ServingNode::presize_for_restore(uint64_t restore_tag, uint64_t expected_records) {
  if (restore_tag == 0 || restore_tag == presized_restore_tag_) return;
  presized_restore_tag_ = restore_tag;
  shm::refresh_table(b_, &table_);  // the entry node may have just published it
  if (expected_records == 0 || table_.owners.empty() || table_.partitions != store_.partitions()) return;
  // Partitions hold about equal shares of the keys (they are hashed); a
  // tenth more absorbs the spread. A bound keeps a wrong hint harmless.
  constexpr uint64_t kMaxPerPartition = 1u << 22;
  const uint64_t per = std::min(kMaxPerPartition, expected_records / table_.partitions + expected_records / table_.partitions / 10 + 16);
  for (uint32_t p = 0; p < table_.partitions; ++p)
    for (uint32_t k = 0; k < table_.replicas; ++k)
      if (table_.owners[p][k] == id_) store_.reserve(p, per);
}

void ServingNode::tick() {
  const uint64_t now = mono_ns();
  last_tick_ns_ = now;
  shm::NodeSlot& me = b_.nodes[id_];
  if (!failpoint(kFpNodeHeartbeat)) me.heartbeat_ns.store(now, std::memory_order_relaxed);
  stamp_counts();
  me.requests_total.store(requests_, std::memory_order_relaxed);
  if (now - last_rate_ns_ >= 1'000'000'000ull) {
    me.requests_per_s.store((requests_ - last_rate_requests_) * 1'000'000'000ull / (now - last_rate_ns_ + 1));
    last_rate_ns_ = now;
    last_rate_requests_ = requests_;
  }
  expire_pending();
  backup_->poll();
  backup_->vouch_for_worker();
}

}  // namespace cv::node

namespace cv::node {

int run_serving_node(const std::string& cluster, int id) {
  // Memory freed by dropped partitions and overwritten values stays with the
  // process for the next writes. With glibc's defaults, a partition's table
  // is a mapping of its own, unmapped when the partition is dropped, and a
  // free that leaves the heap's top large gives memory back at once; the
  // next writes then fault fresh pages in again. On a virtual machine each
  // of these costs milliseconds, in the request loop, while partitions move.
  mallopt(M_MMAP_THRESHOLD, int(kHeapMmapThresholdBytes));
  mallopt(M_TRIM_THRESHOLD, int(kHeapTrimThresholdBytes));
  mallopt(M_TOP_PAD, int(kHeapTopPadBytes));
  std::unique_ptr<shm::Block> block;
  if (int rc = shm::start_cluster_process(cluster, "node" + std::to_string(id), &block)) return rc;
  ServingNode node(*block, id);
  // The node's Redis endpoints; stopped before the node (declared after).
  std::unique_ptr<RedisFrontend> redis;
  if (Status s = RedisFrontend::start(*block, id, node.store(), &redis); !s) {
    spdlog::error("node {}: {}", id, s.message());
    return 1;
  }
  return node.run(shm::stop_requested());
}

}  // namespace cv::node
