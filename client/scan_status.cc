// scan (every live record, newest replica per key, sorted by key) and status
// (nodes, table summary, schedules; a table on a terminal, JSON for programs).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "client/cli_output.h"
#include "client/cluster_client.h"
#include "client/data_commands.h"
#include "client/record_json.h"
#include "node/record_store.h"
#include "shm/clock.h"
#include "shm/expiry.h"
#include "shm/record_order.h"
#include "shm/schedule_ops.h"

namespace cv::client {

namespace {
struct ScanRecord {
  std::string value;
  uint64_t version;
  uint64_t timestamp;
  bool tombstone;
  uint64_t expire_ms;
};

const char* state_name(shm::NodeState s) {
  switch (s) {
    case shm::NodeState::kEmpty: return "empty";
    case shm::NodeState::kStarting: return "starting";
    case shm::NodeState::kUp: return "up";
    case shm::NodeState::kDown: return "down";
    case shm::NodeState::kJoining: return "joining";
    case shm::NodeState::kLeaving: return "leaving";
    case shm::NodeState::kFenced: return "fenced";
  }
  return "unknown";
}
}  // namespace

int cmd_scan(const std::string& cluster, bool json) {
  std::unique_ptr<ClusterClient> c;
  if (Status s = ClusterClient::connect(cluster, &c); !s) return fail(s.message());
  std::map<std::string, ScanRecord, std::less<>> all;
  const int nodes = int(c->layout().config.serving_nodes);
  for (int n = 0; n < nodes; ++n) {
    if (!c->node_up(n)) continue;
    uint64_t cursor = 0;
    while (cursor != UINT64_MAX) {
      shm::BatchBuilder req(shm::WriteMode::kAssign, shm::Policy::kNewer, cursor);
      std::string reply;
      if (Status s = c->call(n, shm::MsgType::kScan, req.finish(), &reply, 10000); !s)
        return fail("scan: " + s.message());
      shm::BatchReader rd(reply);
      if (!rd.ok()) return fail("scan: node" + std::to_string(n) + " sent a malformed reply");
      shm::WireRecord r;
      std::string_view k, v;
      while (rd.next(&r, &k, &v)) {
        auto it = all.find(k);
        const bool tomb = r.op == uint8_t(shm::RecOp::kDelete);
        if (it == all.end())
          all.emplace(std::string(k), ScanRecord{std::string(v), r.version, r.timestamp, tomb, r.expire_ms});
        else if (shm::wins({r.version, r.timestamp, tomb, v},
                           {it->second.version, it->second.timestamp, it->second.tombstone, it->second.value}))
          it->second = ScanRecord{std::string(v), r.version, r.timestamp, tomb, r.expire_ms};
      }
      cursor = rd.header().tag;
    }
  }
  std::string out;
  const uint64_t now_ms = shm::wall_ms();
  for (const auto& [k, r] : all) {
    if (r.tombstone || shm::is_expired(r.expire_ms, now_ms)) continue;
    if (json) {
      out += record_json_line(k, r.value, r.version, r.timestamp, false, r.expire_ms);
      out += '\n';
    } else {
      out += k;
      out += '\t';
      out += r.value;
      out += '\n';
    }
    if (out.size() > (1 << 20)) {
      fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

namespace {

// The status object of CLI.md, read from the cluster's block.
nlohmann::json status_json(const std::string& cluster, const shm::Block& block) {
  const shm::BlockLayout& b = block.layout();
  shm::TableCopy t;
  shm::refresh_table(b, &t);
  std::vector<uint64_t> primaries(shm::kMaxServingNodes), replicas(shm::kMaxServingNodes);
  uint64_t healthy = 0, under = 0, moving = 0, lost = 0;
  nlohmann::json lost_ids = nlohmann::json::array();
  for (uint32_t p = 0; p < t.partitions; ++p) {
    const uint32_t held = t.holders(p);
    for (uint32_t k = 0; k < held; ++k) {
      const uint16_t n = t.owners[p][k];
      if (n >= shm::kMaxServingNodes) continue;
      replicas[n]++;
      if (k == 0) primaries[n]++;
    }
    if (t.lost[p] || held == 0) {
      ++lost;
      lost_ids.push_back(p);
    } else if (held < t.replicas) {
      ++under;
    } else {
      ++healthy;
    }
    moving += t.joining[p] != shm::kNoNode;
  }
  nlohmann::json j;
  j["name"] = cluster;
  j["replicas"] = b.config.replicas;
  j["partitions"] = b.config.partitions;
  j["epoch"] = t.epoch;
  j["dir"] = b.config.data_dir;
  j["launcher_pid"] = b.header.launcher_pid;
  j["partition_health"] = {{"healthy", healthy}, {"under_replicated", under}, {"moving", moving}, {"lost", lost}};
  j["lost_partitions"] = lost_ids;
  j["nodes"] = nlohmann::json::array();
  auto add_node = [&](int slot, int id, const char* role) {
    const shm::NodeSlot& n = b.nodes[slot];
    nlohmann::json e;
    e["id"] = id;
    e["role"] = role;
    e["pid"] = n.pid.load();
    e["state"] = state_name(shm::NodeState(n.state.load()));
    e["records"] = n.records.load();
    e["bytes"] = n.bytes.load();
    e["requests_per_s"] = n.requests_per_s.load();
    e["heartbeat_age_ms"] = (mono_ns() - std::min(mono_ns(), n.heartbeat_ns.load())) / 1'000'000;
    if (slot < shm::kMaxServingNodes) {
      e["weight"] = b.config.weights[id];
      e["partitions"] = replicas[id];
      e["primaries"] = primaries[id];
      // The node's Redis endpoints (0 until its front end is listening).
      e["port"] = n.redis_port.load();
      e["socket"] = std::string(b.config.data_dir) + "/node" + std::to_string(id) + ".sock";
    } else {
      e["weight"] = 0;
      e["quota_bytes"] = b.config.target_quota[id];
      e["used_bytes"] = n.used_bytes.load();
    }
    j["nodes"].push_back(e);
  };
  for (uint32_t i = 0; i < b.config.serving_nodes; ++i) add_node(int(i), int(i), "serving");
  for (uint32_t i = 0; i < b.config.targets; ++i) add_node(shm::kFirstTargetMailbox + int(i), int(i), "target");
  j["schedules"] = nlohmann::json::array();
  for (const auto& s : b.schedules) {
    if (s.id == 0 || !shm::schedule_problem(b, s, false).empty()) continue;  // free, or not to be trusted
    nlohmann::json e;
    e["id"] = s.id;
    e["state"] = shm::schedule_state_name(shm::ScheduleState(s.state.load()));
    e["target"] = s.target;
    e["failovers"] = s.failovers;
    e["file"] = s.file;
    e["records"] = s.records;
    e["bytes"] = s.bytes;
    if (s.error[0]) e["error"] = s.error;
    j["schedules"].push_back(e);
  }
  std::sort(j["schedules"].begin(), j["schedules"].end(),
            [](const nlohmann::json& a, const nlohmann::json& b) { return a["id"] < b["id"]; });
  return j;
}

void print_status_text(const nlohmann::json& j) {
  printf("cluster %s  replicas %u  partitions %u  epoch %llu  dir %s\n", j["name"].get<std::string>().c_str(),
         j["replicas"].get<unsigned>(), j["partitions"].get<unsigned>(), j["epoch"].get<unsigned long long>(),
         j["dir"].get<std::string>().c_str());
  const auto& h = j["partition_health"];
  const std::string lost_list = j["lost_partitions"].empty() ? "" : "  (lost: " + j["lost_partitions"].dump() + ")";
  printf("partitions: %llu healthy, %llu under-replicated, %llu moving, %llu lost%s\n",
         h["healthy"].get<unsigned long long>(), h["under_replicated"].get<unsigned long long>(),
         h["moving"].get<unsigned long long>(), h["lost"].get<unsigned long long>(), lost_list.c_str());
  printf("%-8s %-4s %-8s %-8s %-6s %12s %14s %10s %8s %6s\n", "role", "id", "pid", "state", "weight", "records",
         "bytes", "req/s", "parts", "port");
  for (const auto& n : j["nodes"]) {
    printf("%-8s %-4d %-8d %-8s %-6g %12llu %14llu %10llu %8s %6s\n", n["role"].get<std::string>().c_str(),
           n["id"].get<int>(), n["pid"].get<int>(), n["state"].get<std::string>().c_str(), n["weight"].get<double>(),
           n["records"].get<unsigned long long>(), n["bytes"].get<unsigned long long>(),
           n["requests_per_s"].get<unsigned long long>(),
           n.contains("partitions") ? std::to_string(n["partitions"].get<int>()).c_str() : "-",
           n.contains("port") ? std::to_string(n["port"].get<unsigned>()).c_str() : "-");
  }
  for (const auto& n : j["nodes"])
    if (n.contains("socket")) printf("node %d socket %s\n", n["id"].get<int>(), n["socket"].get<std::string>().c_str());
  if (!j["schedules"].empty()) {
    printf("backups:\n");
    for (const auto& s : j["schedules"])
      printf("  %-6llu %-24s %s%s\n", s["id"].get<unsigned long long>(), s["state"].get<std::string>().c_str(),
             s["file"].get<std::string>().c_str(),
             s.contains("error") ? ("  " + s["error"].get<std::string>()).c_str() : "");
  }
}

int attach_for_status(const std::string& cluster, std::unique_ptr<shm::Block>* block) {
  if (Status s = shm::validate_cluster_name(cluster); !s) return report_error(kExitUsage, s.message());
  if (Status s = shm::Block::attach(cluster, block); !s) return fail(s.message());
  return 0;
}

}  // namespace

int cmd_status(const std::string& cluster, bool json) {
  std::unique_ptr<shm::Block> block;
  if (int rc = attach_for_status(cluster, &block)) return rc;
  const nlohmann::json j = status_json(cluster, *block);
  if (json)
    print_json(j);
  else
    print_status_text(j);
  return 0;
}

int cmd_status_watch(const std::string& cluster, int count) {
  std::unique_ptr<shm::Block> block;
  if (int rc = attach_for_status(cluster, &block)) return rc;
  const bool tty = isatty(STDOUT_FILENO);
  for (int i = 0; count <= 0 || i < count; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::seconds(1));
    if (!shm::pid_alive(block->layout().header.launcher_pid)) return fail("cluster '" + cluster + "' stopped");
    // On a terminal the view is redrawn in place; into a pipe each view
    // follows the last, with a blank line between.
    if (tty)
      printf("\033[H\033[2J");
    else if (i > 0)
      printf("\n");
    print_status_text(status_json(cluster, *block));
    fflush(stdout);
  }
  return 0;
}

}  // namespace cv::client
