// backup: request a schedule from a serving node, then follow it in the block.
#include "client/backup_command.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "client/cli_output.h"
#include "client/cluster_client.h"
#include "client/data_commands.h"
#include "client/progress.h"
#include "shm/clock.h"
#include "shm/failpoints.h"
#include "shm/schedule_ops.h"

namespace cv::client {

namespace {

nlohmann::json summary(const shm::ScheduleSlot& s) {
  uint64_t snap = 0, transfer = 0;
  for (uint32_t n = 0; n < s.nodes; ++n) {
    snap = std::max(snap, s.entries[n].snapshot_ns);
    transfer = std::max(transfer, s.entries[n].transfer_ns);
  }
  const uint64_t end = s.completed_mono_ns ? s.completed_mono_ns : mono_ns();
  nlohmann::json j;
  j["id"] = s.id;
  j["file"] = s.file;
  j["records"] = s.records;
  j["bytes"] = s.bytes;
  j["state"] = shm::schedule_state_name(shm::ScheduleState(s.state.load()));
  j["seconds"] = double(end - s.started_mono_ns) / 1e9;
  j["snapshot_seconds"] = double(snap) / 1e9;
  j["transfer_seconds"] = double(transfer) / 1e9;
  j["consolidate_seconds"] = double(s.consolidate_ns) / 1e9;
  j["target"] = s.target;
  j["failovers"] = s.failovers;
  nlohmann::json nodes = nlohmann::json::array();
  for (uint32_t n = 0; n < s.nodes; ++n)
    nodes.push_back({{"node", n},
                     {"state", shm::entry_state_name(shm::EntryState(s.entries[n].state.load()))},
                     {"records", s.entries[n].records},
                     {"bytes", s.entries[n].bytes}});
  j["nodes"] = nodes;
  if (s.error[0]) j["error"] = s.error;
  return j;
}

int follow(shm::Block& block, uint64_t id, const BackupOptions& o) {
  shm::BlockLayout& b = block.layout();
  Progress progress("backup " + std::to_string(id) + ":", 0, o.quiet);
  Deadline deadline = Deadline::in_ms(uint64_t(o.timeout_s * 1000));
  for (;;) {
    const uint32_t seen = b.header.change_seq.load();
    const int slot = shm::find_schedule(b, id);
    if (slot < 0) return fail("backup " + std::to_string(id) + " is not known to cluster '" + block.cluster() + "'");
    const shm::ScheduleSlot& s = b.schedules[slot];
    if (std::string bad = shm::schedule_problem(b, s, false); !bad.empty())
      return fail("backup " + std::to_string(id) + " is malformed in the block (" + bad + ")");
    const auto st = shm::ScheduleState(s.state.load());
    failpoint(kFpBackupClientPoll);
    if (st == shm::ScheduleState::kConsolidationCompleted) {
      progress.done();
      if (o.json)
        print_json(summary(s));
      else
        printf("%s\n", s.file);
      return 0;
    }
    if (st == shm::ScheduleState::kFailed) {
      progress.done();
      const std::string message = "backup " + std::to_string(id) + " failed: " + s.error;
      if (o.json) {
        // One object: the schedule's summary with the error fields of every
        // failed --json command.
        nlohmann::json j = summary(s);
        j["error"] = message;
        j["exit"] = kExitFailure;
        print_json(std::move(j));
        set_json_output(false);  // already said on stdout
      }
      return fail(message);
    }
    if (progress.active()) {
      uint32_t sent = 0;
      uint64_t bytes = 0;
      for (uint32_t n = 0; n < s.nodes; ++n)
        if (shm::EntryState(s.entries[n].state.load()) == shm::EntryState::kSent) {
          ++sent;
          bytes += s.entries[n].bytes;
        }
      char line[160];
      snprintf(line, sizeof line, "%s  %u/%u nodes sent  %.1f MB  target%u  %.0fs", shm::schedule_state_name(st),
               sent, s.nodes, double(bytes) / 1e6, s.target, double(mono_ns() - s.started_mono_ns) / 1e9);
      progress.status(line);
    }
    if (!shm::pid_alive(b.header.launcher_pid))
      return fail("cluster '" + block.cluster() + "' stopped while backup " + std::to_string(id) + " was running");
    if (deadline.passed())
      return fail("backup " + std::to_string(id) + " did not finish within " + std::to_string(int(o.timeout_s)) +
                  " s (still " + shm::schedule_state_name(st) + "); follow it with backup --wait " +
                  std::to_string(id));
    block.wait_change(seen, 100);
  }
}

}  // namespace

int cmd_backup(const std::string& cluster, const BackupOptions& o) {
  if (o.timeout_s <= 0) return report_error(kExitUsage, "--timeout must be positive");
  if (o.wait_id != 0) {
    std::unique_ptr<shm::Block> block;
    if (Status s = shm::validate_cluster_name(cluster); !s) return fail(s.message());
    if (Status s = shm::Block::attach(cluster, &block); !s) return fail(s.message());
    return follow(*block, o.wait_id, o);
  }
  std::string out;
  if (!o.out_dir.empty()) {
    std::error_code ec;
    out = std::filesystem::absolute(o.out_dir, ec).lexically_normal().string();
    if (std::filesystem::exists(out, ec) && !std::filesystem::is_directory(out, ec))
      return fail("--out " + o.out_dir + " is not a directory");
  }
  std::unique_ptr<ClusterClient> c;
  if (Status s = ClusterClient::connect(cluster, &c); !s) return fail(s.message());
  const int node = c->live_node(0);
  if (node < 0) return fail("no serving node of cluster '" + cluster + "' is up");
  std::string reply;
  if (o.allow_partial) {
    out.push_back('\0');
    out += shm::kBackupAllowPartial;
  }
  if (Status s = c->call(node, shm::MsgType::kBackupRequest, out, &reply, 10000); !s)
    return fail("backup request: " + s.message());
  if (reply.size() < sizeof(shm::BackupReplyWire)) return fail("backup request: node" + std::to_string(node) + " sent a malformed reply");
  shm::BackupReplyWire w;
  std::memcpy(&w, reply.data(), sizeof w);
  if (Code(w.code) != Code::kOk) return fail("backup refused: " + reply.substr(sizeof w));
  if (!o.quiet && isatty(STDERR_FILENO))
    fprintf(stderr, "backup %llu started\n", static_cast<unsigned long long>(w.schedule_id));
  return follow(c->block(), w.schedule_id, o);
}

}  // namespace cv::client
