// WritePipeline: batching, window, failed-record list, backoff.
#include "client/write_pipeline.h"

#include <algorithm>
#include <cstring>

#include "node/distribution.h"
#include "shm/clock.h"
#include "shm/failpoints.h"

namespace cv::client {

using shm::RecStatus;

namespace {
uint64_t backoff_ns(uint32_t attempts) {
  const uint64_t ms = std::min<uint64_t>(1000, 5ull << std::min<uint32_t>(attempts, 8));
  return ms * 1'000'000ull;
}
}  // namespace

WritePipeline::WritePipeline(ClusterClient& client, PipelineOptions options, AckFn on_ack)
    : client_(client), opt_(options), on_ack_(std::move(on_ack)), open_(shm::kMaxServingNodes) {
  for (auto& o : open_) o.builder.reset(opt_.mode, opt_.policy, opt_.tag, opt_.expected_records);
}

Status WritePipeline::entry_check() {
  if (!client_.cluster_alive())
    return Status::peer_down("cluster '" + client_.block().cluster() + "' stopped");
  if (opt_.mode == shm::WriteMode::kKeep && !client_.node_up(opt_.entry_node))
    return Status::peer_down("entry node" + std::to_string(opt_.entry_node) +
                             " is down; resume with --resume and another --entry-node");
  return Status::ok();
}

int WritePipeline::destination(std::string_view key) {
  client_.refresh_table();
  const auto& t = client_.table();
  if (t.owners.empty()) return -1;
  const uint32_t p = node::partition_of(key, t.partitions);
  if (t.lost[p]) return kLostPartition;
  if (opt_.mode == shm::WriteMode::kKeep) return opt_.entry_node;
  return t.primary(p) == shm::kNoNode ? -1 : t.primary(p);
}

void WritePipeline::give_up_lost(OwnedRecord r) {
  r.last = RecStatus::kLost;
  ++stats_.gave_up;
  given_up_.push_back(std::move(r));
}

void WritePipeline::add(int dest, const shm::WireRecord& r, std::string_view key, std::string_view value,
                        uint64_t seq) {
  OpenBatch& b = open_[dest];
  b.offsets.push_back(uint32_t(b.builder.bytes()));
  b.seqs.push_back(seq);
  b.builder.add(r, key, value);
}

Status WritePipeline::submit(std::string_view key, std::string_view value, uint8_t op, uint64_t version,
                             uint64_t timestamp, uint64_t seq, uint64_t expire_ms) {
  if (!fatal_.is_ok()) return fatal_;
  if (Status s = take_failed_first(); !s) return s;
  const int dest = destination(key);
  shm::WireRecord r{uint16_t(key.size()), op, 0, uint32_t(value.size()), version, timestamp, 0, 0, expire_ms};
  if (dest == kLostPartition) {
    give_up_lost(OwnedRecord{std::string(key), std::string(value), version, timestamp, op, seq, 0, 0, RecStatus::kLost,
                             expire_ms});
    return Status::ok();
  }
  if (dest < 0 || !client_.node_up(dest)) {
    if (Status s = entry_check(); !s) return fatal_ = s;
    OwnedRecord o{std::string(key), std::string(value), version, timestamp, op, seq, 0, 0, RecStatus::kNodeDown,
                  expire_ms};
    failed_.push_back(std::move(o));
    ++stats_.failed_retries;
    return pump(1'000'000);
  }
  r.index = open_[dest].builder.count();
  add(dest, r, key, value, seq);
  OpenBatch& b = open_[dest];
  if (b.builder.count() >= opt_.batch_records || b.builder.bytes() >= shm::kBatchTargetBytes) return send_batch(dest);
  return Status::ok();
}

Status WritePipeline::take_failed_first() {
  const uint64_t now = mono_ns();
  size_t n = failed_.size();
  // Each record on the list is looked at once per call; those still backing
  // off go to the back.
  for (size_t i = 0; i < n && !failed_.empty(); ++i) {
    OwnedRecord r = std::move(failed_.front());
    failed_.pop_front();
    int dest = r.not_before_ns > now ? -1 : destination(r.key);
    if (dest == kLostPartition) {
      give_up_lost(std::move(r));
      continue;
    }
    if (dest < 0 || !client_.node_up(dest)) {
      failed_.push_back(std::move(r));
      continue;
    }
    shm::WireRecord w{uint16_t(r.key.size()), r.op, 0, uint32_t(r.value.size()), r.version, r.timestamp,
                      open_[dest].builder.count(), r.attempts, r.expire_ms};
    add(dest, w, r.key, r.value, r.seq);
    if (open_[dest].builder.count() >= opt_.batch_records || open_[dest].builder.bytes() >= shm::kBatchTargetBytes)
      if (Status s = send_batch(dest); !s) return s;
  }
  return Status::ok();
}

Status WritePipeline::send_batch(int dest) {
  OpenBatch& b = open_[dest];
  if (b.builder.empty()) return Status::ok();
  while (int(inflight_.size()) >= opt_.window)
    if (Status s = pump(50'000'000); !s) return s;
  if (Status s = entry_check(); !s) return fatal_ = s;
  InFlight f{dest, std::string(b.builder.finish()), std::move(b.offsets), std::move(b.seqs), mono_ns()};
  b.builder.reset(opt_.mode, opt_.policy, opt_.tag, opt_.expected_records);
  b.offsets.clear();
  b.seqs.clear();
  uint64_t id = 0;
  Status s = failpoint(kFpRestoreClientSend) ? Status::io_error("failpoint") : Status::ok();
  if (s) s = client_.send(dest, shm::MsgType::kWrite, f.payload, &id, opt_.reply_timeout_ms);
  if (!s) {
    for (uint32_t i = 0; i < f.offsets.size(); ++i) fail_record(f, i, RecStatus::kNodeDown);
    return Status::ok();
  }
  inflight_.emplace(id, std::move(f));
  return Status::ok();
}

void WritePipeline::fail_record(const InFlight& f, uint32_t i, RecStatus why) {
  shm::WireRecord r;
  std::memcpy(&r, f.payload.data() + f.offsets[i], sizeof r);
  const char* p = f.payload.data() + f.offsets[i] + sizeof r;
  OwnedRecord o{std::string(p, r.key_len), std::string(p + r.key_len, r.value_len), r.version, r.timestamp, r.op,
                f.seqs[i],  r.aux + 1, 0, why, r.expire_ms};
  if (why == RecStatus::kWrongNode) client_.refresh_table();
  if (o.attempts >= opt_.max_attempts || why == RecStatus::kBadRequest || why == RecStatus::kLost) {
    ++stats_.gave_up;
    given_up_.push_back(std::move(o));
    return;
  }
  o.not_before_ns = why == RecStatus::kWrongNode ? 0 : mono_ns() + backoff_ns(o.attempts);
  ++stats_.failed_retries;
  failed_.push_back(std::move(o));
}

void WritePipeline::on_reply(const shm::MsgHeader& h, std::string_view payload) {
  if (shm::MsgType(h.type) != shm::MsgType::kWriteReply) return;
  auto it = inflight_.find(h.request_id);
  if (it == inflight_.end()) return;  // timed out already; its records were re-queued
  InFlight& f = it->second;
  if (h.from != f.dest) return;  // not from the node the batch went to: not its answer
  if (opt_.track_latency) latencies_us_.push_back(uint32_t((mono_ns() - f.sent_ns) / 1000));
  shm::BatchReader rd(payload);
  shm::WireResult res;
  std::vector<bool> seen(f.offsets.size(), false);
  while (rd.next_result(&res)) {
    if (res.index >= f.offsets.size() || seen[res.index]) continue;
    seen[res.index] = true;
    const auto st = RecStatus(res.status);
    if (st == RecStatus::kOk || st == RecStatus::kStale) {
      ++stats_.acked;
      if (st == RecStatus::kStale) ++stats_.stale;
      if (on_ack_) {
        shm::WireRecord r;
        std::memcpy(&r, f.payload.data() + f.offsets[res.index], sizeof r);
        on_ack_(std::string_view(f.payload.data() + f.offsets[res.index] + sizeof r, r.key_len), res.version, st);
      }
    } else {
      fail_record(f, res.index, st);
    }
  }
  for (uint32_t i = 0; i < seen.size(); ++i)
    if (!seen[i]) fail_record(f, i, RecStatus::kTimeout);
  inflight_.erase(it);
}

void WritePipeline::expire() {
  const uint64_t now = mono_ns();
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    InFlight& f = it->second;
    const bool dead = !client_.node_up(f.dest);
    if (!dead && now - f.sent_ns < opt_.reply_timeout_ms * 1'000'000ull) {
      ++it;
      continue;
    }
    for (uint32_t i = 0; i < f.offsets.size(); ++i)
      fail_record(f, i, dead ? RecStatus::kNodeDown : RecStatus::kTimeout);
    it = inflight_.erase(it);
  }
}

Status WritePipeline::pump(uint64_t wait_ns) {
  client_.poll([this](const shm::MsgHeader& h, std::string_view p) { on_reply(h, p); }, wait_ns);
  expire();
  if (Status s = entry_check(); !s) return fatal_ = s;
  return Status::ok();
}

Status WritePipeline::flush() {
  for (;;) {
    if (!fatal_.is_ok()) return fatal_;
    if (Status s = take_failed_first(); !s) return s;
    for (int d = 0; d < int(open_.size()); ++d)
      if (Status s = send_batch(d); !s) return s;
    if (inflight_.empty() && failed_.empty()) break;
    if (Status s = pump(inflight_.empty() ? 2'000'000 : 50'000'000); !s) return s;
  }
  for (const auto& r : given_up_) {
    if (r.last != RecStatus::kLost) continue;
    client_.refresh_table();
    const uint32_t p = node::partition_of(r.key, client_.table().partitions);
    return Status::io_error(std::to_string(given_up_.size()) + " records could not be written: partition " +
                            std::to_string(p) + " is lost (every replica of it is gone)");
  }
  if (!given_up_.empty())
    return Status::io_error(std::to_string(given_up_.size()) + " records could not be written after " +
                            std::to_string(opt_.max_attempts) + " attempts (last status: " +
                            rec_status_name(given_up_.back().last) + ")");
  return Status::ok();
}

uint64_t WritePipeline::low_water(uint64_t next_seq) const {
  uint64_t low = next_seq;
  for (const auto& [id, f] : inflight_)
    for (uint64_t s : f.seqs) low = std::min(low, s);
  for (const auto& b : open_)
    for (uint64_t s : b.seqs) low = std::min(low, s);
  // Records waiting for a retry, or given up, are not done either: a run
  // resumed from `low` sends them again from the file.
  for (const auto& r : failed_) low = std::min(low, r.seq);
  for (const auto& r : given_up_) low = std::min(low, r.seq);
  return low;
}

}  // namespace cv::client
