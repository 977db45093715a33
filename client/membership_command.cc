// Filing a membership request in the block and following it.
#include "client/membership_command.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "client/cli_output.h"
#include "client/data_commands.h"
#include "shm/block.h"
#include "shm/clock.h"
#include "shm/table_access.h"

namespace cv::client {

namespace {
const char* op_name(shm::MemberOp op) {
  switch (op) {
    case shm::MemberOp::kStart: return "node start";
    case shm::MemberOp::kAdd: return "node add";
    case shm::MemberOp::kRemove: return "node remove";
    case shm::MemberOp::kRebalance: return "rebalance";
    case shm::MemberOp::kNone: break;
  }
  return "membership";
}

}  // namespace

int cmd_membership(const std::string& cluster, const MembershipOptions& o) {
  const char* what = op_name(o.op);
  if (Status s = shm::validate_cluster_name(cluster); !s) return report_error(2, s.message());
  std::unique_ptr<shm::Block> block;
  if (Status s = shm::Block::attach(cluster, &block); !s) return report_error(1, s.message());
  shm::BlockLayout& b = block->layout();
  const int nodes = int(b.config.serving_nodes);
  if ((o.op == shm::MemberOp::kStart || o.op == shm::MemberOp::kRemove) && (o.node < 0 || o.node >= nodes))
    return report_error(2,
                     std::string(what) + ": no serving node " + std::to_string(o.node) + " (cluster '" + cluster +
                         "' has node0 to node" + std::to_string(nodes - 1) + ")");
  shm::MembershipRequest& q = b.membership;
  uint64_t id = 0;
  {
    shm::BlockLock g(b);
    if (!g.locked()) return report_error(1, "timed out waiting for the block lock of cluster '" + cluster + "'");
    const auto st = shm::MemberRequestState(q.state.load());
    if ((st == shm::MemberRequestState::kPending || st == shm::MemberRequestState::kRunning) &&
        shm::pid_alive(q.requester_pid))
      return report_error(1,
                       std::string(what) + ": another membership change is running (requested by pid " +
                           std::to_string(q.requester_pid) + "); try again when it ends");
    q.op = uint32_t(o.op);
    q.node = o.node;
    q.weight = o.weight;
    q.flags = (o.by == "measured" ? shm::kRebalanceMeasured : 0) | (o.accept_loss ? shm::kRebalanceAcceptLoss : 0);
    q.requester_pid = getpid();
    q.result_pid = 0;
    q.moved_partitions = q.moved_records = q.records_received = q.elapsed_ns = 0;
    std::memset(q.error, 0, sizeof q.error);
    std::memset(q.failpoints, 0, sizeof q.failpoints);
    if (const char* fp = std::getenv("CACHEVAULT_FAILPOINTS"))
      std::memcpy(q.failpoints, fp, std::min(std::strlen(fp), sizeof q.failpoints - 1));
    id = q.id.fetch_add(1) + 1;
    q.state.store(uint32_t(shm::MemberRequestState::kPending));
  }
  block->notify_change();
  const Deadline d = Deadline::in_ms(uint64_t(o.timeout_s) * 1000);
  shm::MemberRequestState st;
  for (;;) {
    const uint32_t seen = b.header.change_seq.load();
    st = shm::MemberRequestState(q.state.load());
    if (q.id.load() != id)
      return report_error(1, std::string(what) + ": the request was replaced by another one");
    if (st == shm::MemberRequestState::kDone || st == shm::MemberRequestState::kFailed) break;
    if (!shm::pid_alive(b.header.launcher_pid) || b.header.shutting_down.load())
      return report_error(1, std::string(what) + ": cluster '" + cluster + "' stopped");
    if (d.passed())
      return report_error(1,
                       std::string(what) + ": not done within " + std::to_string(o.timeout_s) +
                           " s; it goes on in the cluster (see `cachevault status`)");
    block->wait_change(seen, 100);
  }
  if (st == shm::MemberRequestState::kFailed) return report_error(1, std::string(what) + ": " + q.error);

  shm::TableCopy t;
  shm::refresh_table(b, &t);
  const int node = q.node;
  uint32_t held = 0;
  for (uint32_t p = 0; p < t.partitions && node >= 0; ++p) held += t.holds(p, node);
  const double seconds = double(q.elapsed_ns) / 1e9;
  nlohmann::json j;
  j["seconds"] = seconds;
  if (o.op == shm::MemberOp::kStart || o.op == shm::MemberOp::kAdd) {
    j["id"] = node;
    j["pid"] = q.result_pid;
    j["partitions"] = held;
    j["records_received"] = q.records_received;
    j["moved_partitions"] = q.moved_partitions;
  } else {
    if (o.op == shm::MemberOp::kRemove) j["id"] = node;
    j["moved_partitions"] = q.moved_partitions;
    j["moved_records"] = q.moved_records;
    if (o.op == shm::MemberOp::kRebalance) {
      nlohmann::json w = nlohmann::json::object();
      for (uint32_t n = 0; n < b.config.serving_nodes; ++n)
        w["node" + std::to_string(n)] = b.weights.measured.load() ? b.weights.w[n] : b.config.weights[n];
      j["weights"] = w;
    }
  }
  if (o.json) {
    print_json(j);
    return 0;
  }
  switch (o.op) {
    case shm::MemberOp::kStart:
    case shm::MemberOp::kAdd:
      printf("node%d up (pid %d): %u partitions, %llu records received, in %.2f s\n", node, q.result_pid, held,
             static_cast<unsigned long long>(q.records_received), seconds);
      break;
    case shm::MemberOp::kRemove:
      printf("node%d removed: %llu partitions (%llu records) moved to the others in %.2f s\n", node,
             static_cast<unsigned long long>(q.moved_partitions), static_cast<unsigned long long>(q.moved_records),
             seconds);
      break;
    default:
      printf("rebalanced: %llu partitions (%llu records) moved in %.2f s\n",
             static_cast<unsigned long long>(q.moved_partitions), static_cast<unsigned long long>(q.moved_records),
             seconds);
  }
  return 0;
}

}  // namespace cv::client
