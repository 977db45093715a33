// Backup with faults, through the CLI: a serving node killed mid-backup, the
// target killed mid-transfer, targets that are full, the backup client
// killed, and a process killed while it holds the schedule lock.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "tests/support/cli_runner.h"
#include "shm/limits.h"
#include "tests/support/cluster_verbs.h"
#include "tests/support/raw_block.h"
#include "tests/support/test_clock.h"

namespace cv::test {
namespace {

namespace fs = std::filesystem;

// The schedules of status --json that are still running.
uint64_t RunningSchedule(TestCluster& c, std::string* state = nullptr) {
  nlohmann::json st = c.status();
  if (!st.contains("schedules")) return 0;
  for (const auto& s : st["schedules"])
    if (s["state"] != "consolidation completed" && s["state"] != "failed") {
      if (state) *state = s["state"].get<std::string>();
      return s["id"].get<uint64_t>();
    }
  return 0;
}

nlohmann::json ScheduleInStatus(TestCluster& c, uint64_t id) {
  nlohmann::json st = c.status();
  if (st.contains("schedules"))
    for (const auto& s : st["schedules"])
      if (s["id"].get<uint64_t>() == id) return s;
  return nlohmann::json::object();
}

// A backup started in the background, with its stdout and stderr kept.
struct SpawnedBackup {
  int pid = -1;
  std::string out, err;
  int Wait(int timeout_s = 120) { return wait_cli(pid, timeout_s); }
  nlohmann::json Json() const {
    auto lines = parse_json_lines(read_text(out));
    return lines.empty() ? nlohmann::json::object() : lines.back();
  }
  std::string Err() const { return read_text(err); }
};

SpawnedBackup SpawnBackup(TestCluster& c, std::vector<std::string> extra = {}) {
  SpawnedBackup b;
  b.out = c.tmp() / ("backup-" + std::to_string(getpid()) + "-" + std::to_string(rand()) + ".out");
  b.err = b.out + ".err";
  std::vector<std::string> args{"backup", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  b.pid = spawn_cli_capture(c.args(args), {}, b.out, b.err);
  return b;
}

// ---------------------------------------------------------------------------
// kill -9 one serving node (R=2) while the backup runs: every partition has
// another replica, so the backup completes with every record.

class NodeKilledMidBackup : public ::testing::TestWithParam<const char*> {};

TEST_P(NodeKilledMidBackup, BackupCompletesWithEveryRecord) {
  TestCluster c("bfn");
  Up(c, {"--nodes", "3", "--replicas", "2"},
     {std::string("CACHEVAULT_FAILPOINTS=") + GetParam() + "@node1=delay(4000)"});
  ASSERT_EQ(c.cli({"load", "--records", "6000", "--value-size", "80"}).rc, 0);
  RecordMap before = Scan(c);
  ASSERT_EQ(before.size(), 6000u);
  SpawnedBackup b = SpawnBackup(c);
  ASSERT_TRUE(wait_until([&] { return RunningSchedule(c) != 0; }, 10000)) << "no schedule appeared";
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // node1 is inside its delay now
  ASSERT_NE(RunningSchedule(c), 0u) << "the backup ended before node1 could be killed";
  const int pid = c.pid_of("serving", 1);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  EXPECT_TRUE(c.wait_state("serving", 1, "down"));
  const int rc = b.Wait(120);
  ASSERT_EQ(rc, 0) << "backup after node1 was killed: " << b.Err() << "\n" << LogTail(c, "target0");
  nlohmann::json j = b.Json();
  EXPECT_EQ(j["state"], "consolidation completed");
  EXPECT_EQ(j["records"].get<uint64_t>(), before.size());
  if (j.contains("nodes")) {
    for (const auto& n : j["nodes"]) {
      if (n["node"] == 1) {
        EXPECT_EQ(n["state"], "failed") << j.dump();
      }
    }
  }
  EXPECT_EQ(diff_records(before, Inspect(j["file"].get<std::string>()), "scan", "backup file"), "");
}

INSTANTIATE_TEST_SUITE_P(AtStep, NodeKilledMidBackup, ::testing::Values("snapshot.end", "send.start"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n)
                             if (ch == '.') ch = '_';
                           return n;
                         });

// ---------------------------------------------------------------------------
// kill -9 the target mid-transfer / mid-consolidation: another target
// finishes the backup.

struct TargetKill {
  const char* name;
  const char* failpoint;
  const char* wait_for_state;  // schedule state to reach before the kill
};

class TargetKilledMidBackup : public ::testing::TestWithParam<TargetKill> {};

TEST_P(TargetKilledMidBackup, AnotherTargetFinishes) {
  const TargetKill& p = GetParam();
  TestCluster c("bft");
  Up(c, {"--nodes", "3", "--replicas", "2", "--targets", "2"},
     {std::string("CACHEVAULT_FAILPOINTS=") + p.failpoint});
  ASSERT_EQ(c.cli({"load", "--records", "6000", "--value-size", "80"}).rc, 0);
  RecordMap before = Scan(c);
  SpawnedBackup b = SpawnBackup(c);
  std::string state;
  ASSERT_TRUE(wait_until(
      [&] {
        state.clear();
        RunningSchedule(c, &state);
        return state == p.wait_for_state;
      },
      10000))
      << "schedule never reached '" << p.wait_for_state << "' (last: '" << state << "')";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const uint64_t id = RunningSchedule(c);
  ASSERT_NE(id, 0u) << "the backup ended before target0 could be killed";
  ASSERT_EQ(ScheduleInStatus(c, id).value("target", 99), 0) << "the schedule was not on target0";
  const int pid = c.pid_of("target", 0);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  EXPECT_TRUE(c.wait_state("target", 0, "down"));
  const int rc = b.Wait(120);
  ASSERT_EQ(rc, 0) << "backup after target0 was killed: " << b.Err() << "\n" << LogTail(c, "target1");
  nlohmann::json j = b.Json();
  EXPECT_EQ(j["state"], "consolidation completed");
  EXPECT_GE(j.value("failovers", 0), 1) << j.dump();
  EXPECT_EQ(j.value("target", 99), 1) << j.dump();
  EXPECT_EQ(ScheduleInStatus(c, id).value("target", 99), 1);
  const std::string file = j["file"].get<std::string>();
  EXPECT_EQ(run_cli({"verify", file}).rc, 0);
  EXPECT_EQ(diff_records(before, Inspect(file), "scan", "backup file"), "");
}

INSTANTIATE_TEST_SUITE_P(
    At, TargetKilledMidBackup,
    ::testing::Values(TargetKill{"WhileNode0Sends", "send.start@node0=delay(4000)", "enable"},
                      TargetKill{"WhileConsolidating", "consolidate.start@target0=delay(4000)", "copy completed"}),
    [](const auto& info) { return std::string(info.param.name); });

// Runs a backup of a loaded 3-node, 2-target cluster on a test clock whose
// processes get `failpoints`; once `process` reports the failpoint's hang
// in its log, moves the clock `advance_ms` forward (the timeout the test is
// about passes at once) with `stuck` left out of the heartbeat check.
// Expects the backup to complete with every record, and returns its --json
// answer for the caller's own checks.
struct StuckBackup {
  std::string failpoints;
  std::string process;            // whose log says "failpoint ...: hang"
  std::vector<std::string> stuck;  // processes whose heartbeat stops
  uint64_t advance_ms;
  // Serving nodes whose copies must have arrived before the clock moves
  // (their own copies are then past any stall check).
  std::vector<int> sent_first = {};
};

// Whether every node in `nodes` has sent its copy for the running backup.
bool CopiesSent(TestCluster& c, const std::vector<int>& nodes) {
  RawBlock raw(c.name());
  if (!raw.ok()) return false;
  for (const shm::ScheduleSlot& s : raw.layout().schedules) {
    if (s.id == 0) continue;
    bool all = true;
    for (int n : nodes) all &= shm::EntryState(s.entries[n].state.load()) == shm::EntryState::kSent;
    if (all) return true;
  }
  return false;
}

nlohmann::json BackupCompletesDespite(const std::string& cluster, const StuckBackup& p) {
  TestCluster c(cluster);
  Up(c, {"--nodes", "3", "--replicas", "2", "--targets", "2"},
     {"CACHEVAULT_FAILPOINTS=" + p.failpoints, kTestClockEnvEntry});
  EXPECT_EQ(c.cli({"load", "--records", "5000", "--value-size", "60"}).rc, 0);
  RecordMap before = Scan(c);
  SpawnedBackup b = SpawnBackup(c);
  EXPECT_TRUE(wait_until([&] { return c.log(p.process).find(": hang") != std::string::npos; }, 60000))
      << p.process << " never reached " << p.failpoints << "\n" << LogTail(c, p.process);
  EXPECT_TRUE(wait_until([&] { return CopiesSent(c, p.sent_first); }, 60000));
  advance_clock(c, p.advance_ms, p.stuck);
  const int rc = b.Wait(120);
  EXPECT_EQ(rc, 0) << "backup with " << p.failpoints << ": " << b.Err() << "\n" << LogTail(c, p.process) << "\n"
                   << LogTail(c, "launcher");
  if (rc != 0) return {};
  nlohmann::json j = b.Json();
  EXPECT_EQ(j["state"], "consolidation completed");
  const std::string file = j["file"].get<std::string>();
  EXPECT_EQ(run_cli({"verify", file}).rc, 0);
  EXPECT_EQ(diff_records(before, Inspect(file), "scan", "backup file"), "");
  return j;
}

// A target that is alive but stuck (here: hung at the start of its
// consolidation) stops stamping its heartbeat: once kTargetHeartbeatTimeoutMs
// passed on the clock the launcher fences it, and another target finishes
// the backup.
TEST(BackupFaultsTest, HungTargetIsFencedAndAnotherTargetFinishes) {
  nlohmann::json j = BackupCompletesDespite(
      "bfh", {"consolidate.start@target0=hang", "target0", {"target0"}, shm::kTargetHeartbeatTimeoutMs + 1000});
  ASSERT_FALSE(j.is_null());
  EXPECT_GE(j.value("failovers", 0), 1) << j.dump();
  EXPECT_EQ(j.value("target", 99), 1) << j.dump();
}

// A serving node whose backup thread is stuck (hung as it starts sending)
// while its request loop still answers: once its copy showed no progress
// for kEntryStallMs on the clock, the target leaves it out, and the other
// replicas cover its partitions.
TEST(BackupFaultsTest, NodeStuckMidBackupIsLeftOutAndReplicasCoverIt) {
  nlohmann::json j =
      BackupCompletesDespite("bfs", {"send.start@node1=hang", "node1", {}, shm::kEntryStallMs + 1000, {0, 2}});
  ASSERT_FALSE(j.is_null());
  ASSERT_TRUE(j["nodes"].is_array()) << j.dump();
  EXPECT_EQ(j["nodes"][1].value("state", ""), "failed") << j.dump();
}

// ---------------------------------------------------------------------------
// Quotas.

TEST(BackupFaultsTest, TargetQuotaTooSmallFailsOverToTheNextTarget) {
  TestCluster c("bfq");
  Up(c, {"--targets", "2", "--target-quota", "1K,1G"});
  ASSERT_EQ(c.cli({"load", "--records", "4000", "--value-size", "80"}).rc, 0);
  RecordMap before = Scan(c);
  CliResult r = c.cli({"backup", "--json"}, {}, 120);
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  auto lines = parse_json_lines(r.out);
  ASSERT_FALSE(lines.empty());
  nlohmann::json j = lines.back();
  EXPECT_GE(j.value("failovers", 0), 1) << j.dump();
  EXPECT_EQ(j.value("target", 99), 1) << j.dump();
  EXPECT_EQ(diff_records(before, Inspect(j["file"].get<std::string>()), "scan", "backup file"), "");
  // A second backup goes the same way (no quota is leaked on either target).
  CliResult again = c.cli({"backup", "--json"}, {}, 120);
  ASSERT_EQ(again.rc, 0) << again.err;
  lines = parse_json_lines(again.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(diff_records(before, Inspect(lines.back()["file"].get<std::string>()), "scan", "second backup"), "");
}

TEST(BackupFaultsTest, EveryTargetFullFailsClearlyAndLeavesNoBackupFile) {
  TestCluster c("bff");
  Up(c, {"--targets", "2", "--target-quota", "1K"});
  ASSERT_EQ(c.cli({"load", "--records", "4000", "--value-size", "80"}).rc, 0);
  const std::string out = c.tmp() / "out";
  CliResult r = c.cli({"backup", "--out", out, "--json"}, {}, 120);
  EXPECT_EQ(r.rc, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("full"), std::string::npos) << "the reason should say the targets are full: " << r.err;
  auto lines = parse_json_lines(r.out);
  if (!lines.empty()) {
    EXPECT_EQ(lines.back()["state"], "failed") << r.out;
  }
  std::error_code ec;
  for (const std::string& d : {out, c.data_dir() + "/backups"}) {
    for (const auto& e : fs::recursive_directory_iterator(d, ec)) {
      EXPECT_EQ(e.path().filename().string().find(".cvb"), std::string::npos)
          << "a backup file was left behind: " << e.path();
    }
  }
  // The cluster still serves.
  EXPECT_EQ(Scan(c).size(), 4000u);
}

// ---------------------------------------------------------------------------
// The client dies: the backup goes on and `backup --wait ID` attaches.

TEST(BackupFaultsTest, BackupClientKilledBackupGoesOnAndWaitAttaches) {
  TestCluster c("bfc");
  Up(c, {}, {"CACHEVAULT_FAILPOINTS=snapshot.end=delay(2500)"});
  ASSERT_EQ(c.cli({"load", "--records", "4000", "--value-size", "80"}).rc, 0);
  RecordMap before = Scan(c);
  SpawnedBackup b = SpawnBackup(c);
  uint64_t id = 0;
  ASSERT_TRUE(wait_until([&] { return (id = RunningSchedule(c)) != 0; }, 10000)) << "no schedule appeared";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(kill(b.pid, SIGKILL), 0);
  EXPECT_EQ(b.Wait(10), 128 + SIGKILL) << "the client ended before it was killed";
  CliResult w = c.cli({"backup", "--wait", std::to_string(id), "--json"}, {}, 120);
  ASSERT_EQ(w.rc, 0) << w.err;
  auto lines = parse_json_lines(w.out);
  ASSERT_FALSE(lines.empty()) << w.out;
  nlohmann::json j = lines.back();
  EXPECT_EQ(j["id"].get<uint64_t>(), id);
  EXPECT_EQ(j["state"], "consolidation completed");
  EXPECT_EQ(diff_records(before, Inspect(j["file"].get<std::string>()), "scan", "backup file"), "");
  // Attaching once more after the end reports the same file.
  CliResult again = c.cli({"backup", "--wait", std::to_string(id)});
  EXPECT_EQ(again.rc, 0) << again.err;
  EXPECT_EQ(again.out, j["file"].get<std::string>() + "\n");
}

// ---------------------------------------------------------------------------
// A process killed while it holds the schedule lock (failpoint schedule.lock
// = crash): nothing hangs and later backups work.

class ScheduleLockHolderKilled : public ::testing::TestWithParam<const char*> {};

TEST_P(ScheduleLockHolderKilled, NothingHangsAndLaterBackupsWork) {
  const std::string proc = GetParam();
  const std::string role = proc.rfind("node", 0) == 0 ? "serving" : "target";
  const int id = std::stoi(proc.substr(role == "serving" ? 4 : 6));
  TestCluster c("bfl");
  Up(c, {"--nodes", "3", "--replicas", "2", "--targets", "2"},
     {"CACHEVAULT_FAILPOINTS=schedule.lock@" + proc + "=crash"});
  ASSERT_EQ(c.cli({"load", "--records", "4000", "--value-size", "80"}).rc, 0);
  RecordMap before = Scan(c);
  const auto t0 = std::chrono::steady_clock::now();
  CliResult first = c.cli({"backup", "--json", "--timeout", "60"}, {}, 90);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(first.rc, 124) << "the first backup hung";
  EXPECT_LT(secs, 70.0);
  std::cout << "[ info     ] first backup: rc " << first.rc << " in " << secs << " s; " << first.err;
  // The failpoint must have fired, or the test proved nothing.
  EXPECT_TRUE(c.wait_state(role, id, "down", 3000))
      << "schedule.lock@" << proc << "=crash did not fire: " << proc
      << " is still up (is the schedule.lock failpoint called anywhere?)";
  if (first.rc == 0) {
    auto lines = parse_json_lines(first.out);
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(diff_records(before, Inspect(lines.back()["file"].get<std::string>()), "scan", "first backup"), "");
  }
  // Later backups work, in bounded time.
  for (int round = 0; round < 2; ++round) {
    CliResult later = c.cli({"backup", "--json", "--timeout", "60"}, {}, 90);
    ASSERT_EQ(later.rc, 0) << "backup " << round + 2 << " after the lock holder died: " << later.err;
    auto lines = parse_json_lines(later.out);
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(diff_records(before, Inspect(lines.back()["file"].get<std::string>()), "scan", "later backup"), "");
  }
  // And the block lock is usable for writes, table and status.
  EXPECT_EQ(c.cli({"put", "after-lock-holder-died", "x"}).rc, 0);
}

INSTANTIATE_TEST_SUITE_P(Holder, ScheduleLockHolderKilled, ::testing::Values("node0", "node1", "target0"));

}  // namespace
}  // namespace cv::test
