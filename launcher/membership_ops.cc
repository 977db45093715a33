// MembershipController: the membership requests commands file in the block
// (`node start|add|remove`, `rebalance`), each carried out as moves.
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstring>

#include "launcher/move_controller.h"
#include "shm/clock.h"

namespace cv::launcher {

namespace {
constexpr uint64_t kProcessReadyMs = 20000;
constexpr uint64_t kProcessStopMs = 10000;
// Measured weights are kept within this factor of the fastest node, so a
// node that measured very slow still keeps a share it can serve.
constexpr double kMinMeasuredWeight = 0.05;

void copy_text(char* dst, size_t cap, const std::string& s) {
  std::memset(dst, 0, cap);
  std::memcpy(dst, s.data(), std::min(s.size(), cap - 1));
}
}  // namespace

std::string MembershipController::request_failpoints() const {
  const char* fp = b_.membership.failpoints;
  return std::string(fp, strnlen(fp, sizeof b_.membership.failpoints));
}

void MembershipController::handle_request() {
  shm::MembershipRequest& q = b_.membership;
  shm::MemberOp op;
  int node;
  uint32_t flags;
  double weight;
  uint64_t id;
  {
    shm::BlockLock g(b_);
    if (!g.locked() || shm::MemberRequestState(q.state.load()) != shm::MemberRequestState::kPending) return;
    op = shm::MemberOp(q.op);
    node = q.node;
    flags = q.flags;
    weight = q.weight;
    id = q.id.load();
    q.state.store(uint32_t(shm::MemberRequestState::kRunning));
  }
  block_.notify_change();
  const uint64_t t0 = mono_ns();
  Result r;
  Status s;
  switch (op) {
    case shm::MemberOp::kStart: s = op_start(node, &r); break;
    case shm::MemberOp::kAdd: s = op_add(weight, &r); break;
    case shm::MemberOp::kRemove: s = op_remove(node, &r); break;
    case shm::MemberOp::kRebalance: s = op_rebalance(flags, &r); break;
    case shm::MemberOp::kNone: s = Status::invalid("empty membership request"); break;
  }
  {
    shm::BlockLock g(b_);
    if (q.id.load() == id) {
      q.node = r.node >= 0 ? r.node : node;
      q.result_pid = r.pid;
      q.moved_partitions = r.moved_partitions;
      q.moved_records = r.moved_records;
      q.records_received = r.records_received;
      q.elapsed_ns = mono_ns() - t0;
      copy_text(q.error, shm::kErrorBytes, s ? "" : s.message());
      q.state.store(uint32_t(s ? shm::MemberRequestState::kDone : shm::MemberRequestState::kFailed));
    }
  }
  if (s)
    spdlog::info("membership request {} done: {} partitions, {} records moved in {:.2f} s", id, r.moved_partitions,
                 r.moved_records, double(mono_ns() - t0) / 1e9);
  else
    spdlog::error("membership request {} failed: {}", id, s.message());
  block_.notify_change();
}

Status MembershipController::wait_for_state(int id, shm::NodeState want, uint64_t timeout_ms) {
  const Deadline d = Deadline::in_ms(timeout_ms);
  while (shm::NodeState(b_.nodes[id].state.load()) != want) {
    if (d.passed())
      return Status::timeout("node" + std::to_string(id) + " did not become " +
                             (want == shm::NodeState::kDown ? "down" : "ready") + " within " +
                             std::to_string(timeout_ms / 1000) + " s");
    usleep(2000);
  }
  return Status::ok();
}

Status MembershipController::start_process(int id, const std::string& failpoints, int* pid) {
  shm::NodeSlot& n = b_.nodes[id];
  n.ready.store(0);
  n.records.store(0);
  n.bytes.store(0);
  n.requests_total.store(0);
  n.requests_per_s.store(0);
  n.adopted_epoch.store(0);
  n.service_ns_per_record.store(0);
  n.heartbeat_ns.store(mono_ns());
  seen_failures_[id] = n.replica_failures.load();
  n.role.store(uint32_t(shm::Role::kServing));
  n.state.store(uint32_t(shm::NodeState::kJoining));
  block_.notify_change();
  *pid = spawn_(id, failpoints);
  if (*pid <= 0) {
    n.state.store(uint32_t(shm::NodeState::kDown));
    return Status::io_error("could not start node" + std::to_string(id));
  }
  const Deadline d = Deadline::in_ms(kProcessReadyMs);
  while (n.ready.load() == 0) {
    if (shm::NodeState(n.state.load()) == shm::NodeState::kDown)
      return Status::peer_down("node" + std::to_string(id) + " died while starting (see " +
                               std::string(b_.config.data_dir) + "/logs/node" + std::to_string(id) + ".log)");
    if (d.passed()) {
      stop_node_(id, true);
      return Status::timeout("node" + std::to_string(id) + " was not ready within " +
                             std::to_string(kProcessReadyMs / 1000) + " s");
    }
    usleep(2000);
  }
  spdlog::info("node{} started as pid {}; joining", id, *pid);
  return Status::ok();
}

Status MembershipController::start_and_fill(int id, Result* r) {
  if (Status s = start_process(id, request_failpoints(), &r->pid); !s) return s;
  Status s = converge(-1, r);
  b_.nodes[id].state.store(uint32_t(shm::NodeState::kUp));
  block_.notify_change();
  return s;
}

Status MembershipController::op_start(int id, Result* r) {
  r->node = id;
  const int n = int(b_.config.serving_nodes);
  if (id < 0 || id >= n)
    return Status::invalid("no serving node " + std::to_string(id) + " (this cluster has node0 to node" +
                           std::to_string(n - 1) + "; `node add` adds one)");
  const auto st = shm::NodeState(b_.nodes[id].state.load());
  if (shm::node_state_live(st) || st == shm::NodeState::kStarting)
    return Status::invalid("node" + std::to_string(id) + " is already running (" +
                           (st == shm::NodeState::kUp ? "up" : "busy joining or leaving") + ")");
  if (st == shm::NodeState::kFenced) {
    // A fenced node holds data that may differ: it starts again empty.
    stop_node_(id, true);
    if (Status s = wait_for_state(id, shm::NodeState::kDown, kProcessStopMs); !s) return s;
  }
  return start_and_fill(id, r);
}

Status MembershipController::op_add(double weight, Result* r) {
  const int id = int(b_.config.serving_nodes);
  if (id >= shm::kMaxServingNodes)
    return Status::invalid("the cluster has " + std::to_string(id) + " serving nodes, the most it can have");
  if (weight == 0) weight = 1;
  if (!std::isfinite(weight) || weight < 0) return Status::invalid("--weight must be a positive number");
  r->node = id;
  {
    shm::BlockLock g(b_);
    if (!g.locked()) return Status::timeout("timed out waiting for the block lock");
    b_.config.weights[id] = weight;
    b_.weights.w[id] = weight;
    b_.nodes[id].state.store(uint32_t(shm::NodeState::kDown));
    b_.nodes[id].role.store(uint32_t(shm::Role::kServing));
    // Published last: readers that see the count see a complete slot.
    std::atomic_thread_fence(std::memory_order_release);
    b_.config.serving_nodes = uint32_t(id + 1);
  }
  return start_and_fill(id, r);
}

Status MembershipController::op_remove(int id, Result* r) {
  r->node = id;
  const int n = int(b_.config.serving_nodes);
  if (id < 0 || id >= n) return Status::invalid("no serving node " + std::to_string(id));
  const auto st = shm::NodeState(b_.nodes[id].state.load());
  if (st != shm::NodeState::kUp && st != shm::NodeState::kFenced)
    return Status::invalid("node" + std::to_string(id) + " is not up");
  if (st == shm::NodeState::kUp) {
    const int others = live_count(id);
    if (others < int(b_.config.replicas))
      return Status::invalid("removing node" + std::to_string(id) + " would leave " + std::to_string(others) +
                             " serving nodes for " + std::to_string(b_.config.replicas) +
                             " copies of every partition");
    b_.nodes[id].state.store(uint32_t(shm::NodeState::kLeaving));
    block_.notify_change();
    Status s = converge(id, r);
    shm::TableCopy t;
    shm::refresh_table(b_, &t);
    uint32_t still = 0;
    for (uint32_t p = 0; p < t.partitions; ++p) still += t.holds(p, id) || t.joining[p] == id;
    if (!s || still > 0) {
      b_.nodes[id].state.store(uint32_t(shm::NodeState::kUp));
      block_.notify_change();
      return s ? Status::io_error("node" + std::to_string(id) + " still holds " + std::to_string(still) +
                                  " partitions")
               : s;
    }
  }
  stop_node_(id, false);
  if (Status s = wait_for_state(id, shm::NodeState::kDown, kProcessStopMs); !s) {
    stop_node_(id, true);
    if (Status k = wait_for_state(id, shm::NodeState::kDown, kProcessStopMs); !k) return k;
  }
  spdlog::info("node{} removed", id);
  return Status::ok();
}

Status MembershipController::op_rebalance(uint32_t flags, Result* r) {
  if (flags & shm::kRebalanceMeasured) {
    // A node's speed is the inverse of its time per record; the weights
    // follow the speeds, the fastest node keeping weight 1.
    std::vector<double> speed(b_.config.serving_nodes, 0.0);
    double fastest = 0;
    for (int n = 0; n < int(b_.config.serving_nodes); ++n) {
      const uint64_t ns = b_.nodes[n].service_ns_per_record.load();
      if (live(n) && ns > 0) speed[n] = 1e9 / double(ns);
      fastest = std::max(fastest, speed[n]);
    }
    if (fastest == 0)
      return Status::invalid("no serving node has measured its speed yet: run some load (e.g. cachevault load) first");
    std::string summary;
    for (int n = 0; n < int(b_.config.serving_nodes); ++n) {
      if (!live(n)) continue;
      const double w = speed[n] > 0 ? std::max(kMinMeasuredWeight, speed[n] / fastest) : 1.0;
      b_.weights.w[n] = w;
      summary += " node" + std::to_string(n) + "=" + std::to_string(w).substr(0, 5);
    }
    b_.weights.measured.store(1);
    spdlog::info("rebalance by measured speed: weights{}", summary);
  } else {
    b_.weights.measured.store(0);
  }
  if (flags & shm::kRebalanceAcceptLoss) {
    node::DistributionInput in;
    node::DistributionTable want;
    if (Status s = desired_table(-1, &in, &want); !s) return s;
    update_table([&](shm::TableCopy& t) {
      bool changed = false;
      for (uint32_t p = 0; p < t.partitions; ++p) {
        if (!t.lost[p]) continue;
        t.lost[p] = 0;
        t.owners[p].fill(shm::kNoNode);
        for (int k = 0; k < in.replicas; ++k) t.owners[p][k] = want[p][k];
        spdlog::warn("partition {} was lost; it starts again empty on request", p);
        changed = true;
      }
      return changed;
    });
  }
  return converge(-1, r);
}

}  // namespace cv::launcher
