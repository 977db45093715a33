// MembershipController: table repair, fencing, re-replication and moves.
#include "launcher/move_controller.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "shm/clock.h"
#include "shm/failpoints.h"
#include "shm/mailbox.h"
#include "shm/schedule_ops.h"

namespace cv::launcher {

namespace {
// How long every live node may take to adopt a new table epoch.
constexpr uint64_t kBarrierTimeoutMs = 5000;
// A wave whose copies have not all ended by then is given up (the sources
// give up sooner on a new holder that stops answering).
constexpr uint64_t kWaveTimeoutMs = 120000;
// A replica that failed this many forwarded writes is fenced.
constexpr uint32_t kFenceAfterFailures = 3;
// After a failed round of re-replication, wait before the next one.
constexpr uint64_t kRetryAfterFailureMs = 500;
constexpr uint64_t kDropRetryMs = 500;
constexpr int kMaxDropAttempts = 20;
constexpr uint64_t kSendTimeoutMs = 1000;

node::DistributionTable owners_of(const shm::TableCopy& t) {
  node::DistributionTable out(t.owners.size());
  for (size_t p = 0; p < t.owners.size(); ++p) std::copy(t.owners[p].begin(), t.owners[p].end(), out[p].begin());
  return out;
}

std::vector<uint16_t> row_of(const shm::TableCopy& t, uint32_t p) {
  std::vector<uint16_t> r;
  for (uint32_t k = 0, n = t.holders(p); k < n; ++k) r.push_back(t.owners[p][k]);
  return r;
}

void set_row(shm::TableCopy& t, uint32_t p, const std::vector<uint16_t>& row) {
  t.owners[p].fill(shm::kNoNode);
  for (size_t k = 0; k < row.size() && k < shm::kMaxReplicas; ++k) t.owners[p][k] = row[k];
}

// `row` ordered as `want` orders its nodes, the others after them.
std::vector<uint16_t> ordered_like(const std::vector<uint16_t>& row, const node::PartitionOwners& want, int r) {
  std::vector<uint16_t> out;
  for (int k = 0; k < r; ++k)
    if (std::find(row.begin(), row.end(), want[k]) != row.end()) out.push_back(want[k]);
  for (uint16_t n : row)
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  return out;
}
}  // namespace

MembershipController::MembershipController(shm::Block& block, SpawnFn spawn, StopFn stop)
    : block_(block), b_(block.layout()), spawn_(std::move(spawn)), stop_node_(std::move(stop)),
      seen_failures_(shm::kMaxServingNodes, 0) {}

MembershipController::~MembershipController() { stop(); }

Status MembershipController::start() {
  if (Status s = shm::ClientSlotLease::claim(block_, &lease_); !s) return s;
  link_ = std::make_unique<shm::PeerLink>(block_, lease_->mailbox_index(), lease_->generation());
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void MembershipController::stop() {
  stopping_.store(true);
  if (thread_.joinable()) {
    lease_->inbox().wake();
    thread_.join();
  }
}

bool MembershipController::live(int node) const {
  return node >= 0 && node < int(b_.config.serving_nodes) &&
         shm::node_state_live(shm::NodeState(b_.nodes[node].state.load()));
}

int MembershipController::live_count(int excluded) const {
  int n = 0;
  for (int i = 0; i < int(b_.config.serving_nodes); ++i) n += i != excluded && live(i);
  return n;
}

void MembershipController::run() {
  spdlog::info("membership controller running");
  while (!stopping_.load() && !b_.header.shutting_down.load()) {
    const uint32_t seen = b_.header.change_seq.load();
    fence_failing_replicas();
    repair_table();
    pump(0);
    send_drops();
    if (shm::MemberRequestState(b_.membership.state.load()) == shm::MemberRequestState::kPending) {
      handle_request();
      continue;
    }
    if (mono_ns() - last_rereplication_failure_ns_ > kRetryAfterFailureMs * 1'000'000ull && needs_rereplication()) {
      Result r;
      const uint64_t t0 = mono_ns();
      Status s = converge(-1, &r, 4);
      if (!s) {
        spdlog::warn("re-replication incomplete: {}", s.message());
        last_rereplication_failure_ns_ = mono_ns();
      } else if (r.moved_partitions > 0) {
        spdlog::info("re-replication: {} partitions ({} records) copied in {:.2f} s; every partition has its copies",
                     r.moved_partitions, r.moved_records, double(mono_ns() - t0) / 1e9);
      }
      continue;
    }
    block_.wait_change(seen, drops_.empty() ? 20 : 5);
  }
  spdlog::info("membership controller stopped");
}

bool MembershipController::update_table(const std::function<bool(shm::TableCopy&)>& f, uint64_t* epoch) {
  bool changed = false;
  {
    shm::BlockLock g(b_);
    if (!g.locked()) {
      spdlog::error("table update: timed out waiting for the block lock");
      return false;
    }
    shm::TableCopy t;
    shm::refresh_table(b_, &t);
    changed = f(t);
    if (changed) shm::publish_table(b_, t);
    if (epoch) *epoch = b_.table.epoch.load();
  }
  if (changed) {
    block_.notify_change();
    wake_nodes();
  }
  return changed;
}

void MembershipController::wake_nodes() {
  for (int n = 0; n < int(b_.config.serving_nodes); ++n)
    if (live(n)) link_->mailbox(n).wake();
}

bool MembershipController::repair_table() {
  return update_table([&](shm::TableCopy& t) {
    bool changed = false;
    for (uint32_t p = 0; p < t.partitions; ++p) {
      std::vector<uint16_t> row = row_of(t, p), kept;
      for (uint16_t n : row)
        if (live(n)) kept.push_back(n);
      if (kept.size() != row.size()) {
        set_row(t, p, kept);
        changed = true;
        if (kept.empty() && !t.lost[p]) {
          t.lost[p] = 1;
          spdlog::error("partition {} is lost: every replica of it is gone", p);
        }
      }
      if (t.joining[p] != shm::kNoNode && !live(t.joining[p])) {
        t.joining[p] = shm::kNoNode;
        changed = true;
      }
    }
    if (changed) spdlog::info("table repaired: dead or fenced nodes taken out (epoch {})", t.epoch + 1);
    return changed;
  });
}

void MembershipController::fence_failing_replicas() {
  for (int n = 0; n < int(b_.config.serving_nodes); ++n) {
    const uint32_t f = b_.nodes[n].replica_failures.load();
    if (!live(n)) {
      seen_failures_[n] = f;
      continue;
    }
    if (f - seen_failures_[n] < kFenceAfterFailures) continue;
    seen_failures_[n] = f;
    if (live_count(n) == 0) continue;  // fencing the last node would lose everything
    spdlog::error("node{} failed {} forwarded writes; fencing it (its partitions go on from the other replicas)", n,
                  f);
    b_.nodes[n].state.store(uint32_t(shm::NodeState::kFenced));
    block_.notify_change();
  }
}

bool MembershipController::needs_rereplication() {
  shm::TableCopy t;
  shm::refresh_table(b_, &t);
  const uint32_t want = std::min<uint32_t>(t.replicas, uint32_t(live_count()));
  for (uint32_t p = 0; p < t.partitions; ++p)
    if (!t.lost[p] && t.holders(p) < want) return true;
  return false;
}

Status MembershipController::desired_table(int excluded, node::DistributionInput* in,
                                           node::DistributionTable* want) {
  shm::TableCopy t;
  shm::refresh_table(b_, &t);
  in->partitions = int(t.partitions);
  in->weights.clear();
  in->up.clear();
  int up = 0;
  for (int n = 0; n < int(b_.config.serving_nodes); ++n) {
    const auto st = shm::NodeState(b_.nodes[n].state.load());
    const bool takes = n != excluded && live(n) && st != shm::NodeState::kLeaving;
    const double w = b_.weights.measured.load() ? b_.weights.w[n] : b_.config.weights[n];
    in->weights.push_back(w > 0 ? w : 1.0);
    in->up.push_back(takes);
    up += takes;
  }
  in->replicas = std::min<int>(int(t.replicas), up);
  if (in->replicas == 0) return Status::peer_down("no serving node is up to hold partitions");
  return node::recompute_distribution(*in, owners_of(t), int(t.replicas), want);
}

Status MembershipController::converge(int excluded, Result* r, int max_waves) {
  bool ordered = false;
  for (int wave = 0; wave < max_waves; ++wave) {
    if (stopping_.load() || b_.header.shutting_down.load()) return Status::peer_down("the cluster is stopping");
    node::DistributionInput in;
    node::DistributionTable want;
    if (Status s = desired_table(excluded, &in, &want); !s) return s;
    shm::TableCopy t;
    shm::refresh_table(b_, &t);
    // Settled when every partition has the wanted holders; their order
    // (which one is primary) is set as part of the moves.
    bool same = true;
    for (uint32_t p = 0; same && p < t.partitions; ++p) {
      if (t.lost[p]) continue;
      if (t.holders(p) != uint32_t(in.replicas)) same = false;
      for (int k = 0; same && k < in.replicas; ++k) same = t.holds(p, want[p][k]);
    }
    if (same && ordered) return Status::ok();
    ordered = same;  // sets match: one more round puts primaries in place
    if (Status s = run_wave(in, want, r); !s) return s;
  }
  return Status::timeout("the table did not settle after " + std::to_string(max_waves) + " rounds of moves");
}

Status MembershipController::barrier(uint64_t epoch) {
  const Deadline d = Deadline::in_ms(kBarrierTimeoutMs);
  for (;;) {
    int late = -1;
    for (int n = 0; n < int(b_.config.serving_nodes) && late < 0; ++n)
      if (live(n) && b_.nodes[n].adopted_epoch.load(std::memory_order_acquire) < epoch) late = n;
    if (late < 0) return Status::ok();
    if (d.passed())
      return Status::timeout("node" + std::to_string(late) + " did not take table epoch " + std::to_string(epoch) +
                             " within " + std::to_string(kBarrierTimeoutMs) + " ms");
    link_->mailbox(late).wake();
    usleep(500);
  }
}

Status MembershipController::run_wave(const node::DistributionInput& in, const node::DistributionTable& want,
                                      Result* r) {
  shm::TableCopy t;
  shm::refresh_table(b_, &t);
  std::vector<Plan> plans;
  std::vector<int> load(shm::kMaxServingNodes, 0);
  for (uint32_t p = 0; p < t.partitions; ++p) {
    if (t.lost[p] || t.joining[p] != shm::kNoNode) continue;
    const std::vector<uint16_t> cur = row_of(t, p);
    uint16_t add = shm::kNoNode, remove = shm::kNoNode;
    for (int k = 0; k < in.replicas && add == shm::kNoNode; ++k)
      if (std::find(cur.begin(), cur.end(), want[p][k]) == cur.end()) add = want[p][k];
    if (add == shm::kNoNode) continue;
    for (uint16_t n : cur)
      if (std::find(want[p].begin(), want[p].begin() + in.replicas, n) == want[p].begin() + in.replicas) {
        remove = n;
        break;
      }
    uint16_t source = shm::kNoNode;
    for (uint16_t n : cur)
      if (live(n) && (source == shm::kNoNode || load[n] < load[source])) source = n;
    if (source == shm::kNoNode) continue;
    ++load[source];
    Plan pl;
    pl.partition = p;
    pl.add = add;
    pl.remove = remove;
    pl.source = source;
    pl.move_id = next_move_++;
    plans.push_back(pl);
  }

  // Nothing to copy: what is left is order (primaries) and surplus holders,
  // which every listed node can take at once.
  if (plans.empty()) {
    std::vector<std::pair<int, uint32_t>> dropped;
    uint64_t epoch = 0;
    update_table(
        [&](shm::TableCopy& u) {
          bool changed = false;
          for (uint32_t p = 0; p < u.partitions; ++p) {
            if (u.lost[p]) continue;
            std::vector<uint16_t> row = ordered_like(row_of(u, p), want[p], in.replicas);
            while (int(row.size()) > in.replicas) {
              dropped.push_back({row.back(), p});
              row.pop_back();
            }
            if (row != row_of(u, p)) {
              set_row(u, p, row);
              changed = true;
            }
          }
          return changed;
        },
        &epoch);
    if (Status s = barrier(epoch); !s) spdlog::warn("after reordering: {}", s.message());
    for (auto [n, p] : dropped) drops_.push_back({n, p});
    return Status::ok();
  }

  const uint64_t t0 = mono_ns();
  if (failpoint(kFpMoveJoin)) return Status::io_error("failpoint " + std::string(kFpMoveJoin));
  uint64_t epoch = 0;
  update_table(
      [&](shm::TableCopy& u) {
        for (const Plan& pl : plans) u.joining[pl.partition] = pl.add;
        return true;
      },
      &epoch);
  auto roll_back = [&](const std::string& why) {
    update_table([&](shm::TableCopy& u) {
      for (const Plan& pl : plans)
        if (u.joining[pl.partition] == pl.add) u.joining[pl.partition] = shm::kNoNode;
      return true;
    });
    for (const Plan& pl : plans)
      if (live(pl.add)) drops_.push_back({pl.add, pl.partition});
    spdlog::warn("moves of {} partitions rolled back: {}", plans.size(), why);
    return Status::io_error(why);
  };
  if (Status s = barrier(epoch); !s) return roll_back(s.message());
  spdlog::info("moving {} partitions (table epoch {})", plans.size(), epoch);

  for (Plan& pl : plans) {
    shm::MoveWire m{pl.move_id, pl.partition, pl.add, 0, epoch};
    if (Status s = send(pl.source, shm::MsgType::kMoveCopy, m, &pl.request_id); !s) {
      spdlog::warn("move {}: asking node{} to copy partition {}: {}", pl.move_id, pl.source, pl.partition,
                   s.message());
      pl.state = Plan::State::kFailed;
    }
  }
  const Deadline d = Deadline::in_ms(kWaveTimeoutMs);
  for (;;) {
    pump(2'000'000);
    fence_failing_replicas();
    repair_table();
    size_t open = 0;
    for (Plan& pl : plans) {
      if (pl.state != Plan::State::kCopying) continue;
      if (auto it = replies_.find(pl.request_id); it != replies_.end()) {
        pl.state = Code(it->second.code) == Code::kOk ? Plan::State::kDone : Plan::State::kFailed;
        pl.records = it->second.records;
        replies_.erase(it);
      } else if (!live(pl.source) || !live(pl.add)) {
        pl.state = Plan::State::kFailed;
      } else {
        ++open;
      }
    }
    if (open == 0) break;
    if (d.passed() || stopping_.load() || b_.header.shutting_down.load()) {
      for (Plan& pl : plans)
        if (pl.state == Plan::State::kCopying) pl.state = Plan::State::kFailed;
      break;
    }
  }
  replies_.clear();
  if (failpoint(kFpMoveTableSwitch)) return roll_back("failpoint " + std::string(kFpMoveTableSwitch));

  size_t done = 0, failed = 0;
  std::vector<std::pair<int, uint32_t>> to_drop;
  update_table(
      [&](shm::TableCopy& u) {
        for (Plan& pl : plans) {
          const uint32_t p = pl.partition;
          if (u.joining[p] == pl.add) u.joining[p] = shm::kNoNode;
          std::vector<uint16_t> row = row_of(u, p);
          const bool ok = pl.state == Plan::State::kDone && live(pl.add) && !u.lost[p] &&
                          std::find(row.begin(), row.end(), pl.add) == row.end();
          if (!ok) {
            ++failed;
            to_drop.push_back({pl.add, p});
            continue;
          }
          auto old = std::find(row.begin(), row.end(), pl.remove);
          if (pl.remove != shm::kNoNode && old != row.end()) {
            *old = pl.add;
            to_drop.push_back({pl.remove, p});
          } else {
            row.push_back(pl.add);
          }
          row = ordered_like(row, want[p], in.replicas);
          while (int(row.size()) > int(u.replicas)) {
            to_drop.push_back({row.back(), p});
            row.pop_back();
          }
          set_row(u, p, row);
          ++done;
          r->moved_records += pl.records;
          if (pl.add == r->node) r->records_received += pl.records;
        }
        r->moved_partitions += done;
        return true;
      },
      &epoch);
  if (Status s = barrier(epoch); !s) spdlog::warn("after the switch: {}", s.message());
  for (auto [n, p] : to_drop)
    if (live(n)) drops_.push_back({n, p});
  spdlog::info("moves done: {} partitions switched, {} failed, in {:.3f} s (epoch {})", done, failed,
               double(mono_ns() - t0) / 1e9, epoch);
  if (failed > 0 && done == 0) return Status::io_error(std::to_string(failed) + " partition moves failed");
  return Status::ok();
}

Status MembershipController::send(int node, shm::MsgType type, const shm::MoveWire& m, uint64_t* request_id) {
  *request_id = next_request_++;
  return link_->send(node, type, *request_id, std::string_view(reinterpret_cast<const char*>(&m), sizeof m),
                     kSendTimeoutMs);
}

void MembershipController::pump(uint64_t wait_ns) {
  shm::Mailbox inbox = lease_->inbox();
  auto fn = [&](const shm::MsgHeader& h, std::string_view payload) {
    shm::MoveReplyWire w{};
    if (payload.size() != sizeof w) return;
    std::memcpy(&w, payload.data(), sizeof w);
    if (shm::MsgType(h.type) == shm::MsgType::kMoveCopyReply) {
      replies_[h.request_id] = w;
      return;
    }
    if (shm::MsgType(h.type) != shm::MsgType::kMoveDropReply) return;
    for (auto it = drops_.begin(); it != drops_.end(); ++it) {
      if (it->request_id != h.request_id || it->node != h.from) continue;
      const Code c = Code(w.code);
      if (c == Code::kOk || c == Code::kInvalidArgument || ++it->attempts >= kMaxDropAttempts) {
        if (c != Code::kOk && c != Code::kInvalidArgument)
          spdlog::warn("node{} could not drop partition {}; it keeps the records it no longer serves", it->node,
                       it->partition);
        drops_.erase(it);
      } else {
        it->request_id = 0;  // busy (a backup points at its records): later
        it->not_before_ns = mono_ns() + kDropRetryMs * 1'000'000ull;
      }
      return;
    }
  };
  if (inbox.drain(fn) == 0 && wait_ns > 0) {
    inbox.wait(wait_ns);
    inbox.drain(fn);
  }
}

void MembershipController::send_drops() {
  if (drops_.empty()) return;
  // While a backup runs, old holders keep what moved away: its schedule was
  // made from the table of its start, and their copies may be the ones
  // that cover a partition.
  for (const auto& s : b_.schedules)
    if (s.id != 0 && shm::schedule_active(shm::ScheduleState(s.state.load()))) return;
  const uint64_t now = mono_ns();
  shm::TableCopy t;
  shm::refresh_table(b_, &t);
  for (auto it = drops_.begin(); it != drops_.end();) {
    if (!live(it->node) || it->partition >= t.partitions || t.holds(it->partition, it->node) ||
        t.joining[it->partition] == it->node) {
      it = drops_.erase(it);  // gone, or wanted there again
      continue;
    }
    if (it->request_id != 0 && now > it->not_before_ns + 10'000'000'000ull) it->request_id = 0;  // no answer: again
    if (it->request_id == 0 && now >= it->not_before_ns) {
      shm::MoveWire m{next_move_++, it->partition, 0, 0, t.epoch};
      if (!send(it->node, shm::MsgType::kMoveDrop, m, &it->request_id)) it->request_id = 0;
      it->not_before_ns = now;
    }
    ++it;
  }
}

}  // namespace cv::launcher
