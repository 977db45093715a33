// Restore with faults, through the CLI: a serving node killed mid-restore,
// the client killed and resumed, the entry node killed and the restore
// resumed through another node, a replica that stalls, and the client's own
// failpoints.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "client/restore_checkpoint.h"
#include "shm/backup_reader.h"
#include "tests/support/cli_runner.h"
#include "shm/limits.h"
#include "tests/support/cluster_verbs.h"
#include "tests/support/test_clock.h"

namespace cv::test {
namespace {

namespace fs = std::filesystem;

class RestoreFaultsTest : public ::testing::Test {
 protected:
  // One source backup of 30,000 records for every test.
  static void SetUpTestSuite() {
    src_ = new TestCluster("rfs");
    CliResult r = src_->up();
    ASSERT_EQ(r.rc, 0) << r.err;
    ASSERT_EQ(src_->cli({"load", "--records", "30000", "--value-size", "80"}).rc, 0);
    CliResult b = src_->cli({"backup"}, {}, 120);
    ASSERT_EQ(b.rc, 0) << b.err;
    file_ = new std::string(b.out.substr(0, b.out.find('\n')));
    CliResult i = run_cli({"inspect", *file_, "--records"});
    ASSERT_EQ(i.rc, 0) << i.err;
    records_ = new RecordMap(records_by_key(i.out));
    src_->down();
  }
  static void TearDownTestSuite() {
    delete src_;
    delete file_;
    delete records_;
    src_ = nullptr;
  }
  void SetUp() override {
    if (!records_ || records_->size() != 30000u) GTEST_SKIP() << "no source backup";
  }
  // The default checkpoint of a restore of file_ into c: in the cluster's
  // directory, named after the file and its checksum.
  static std::string Checkpoint(const TestCluster& c) {
    std::unique_ptr<fmt::BackupReader> r;
    EXPECT_TRUE(fmt::BackupReader::open(*file_, &r));
    char sum[17];
    snprintf(sum, sizeof sum, "%016llx", r ? static_cast<unsigned long long>(r->file_checksum()) : 0ull);
    return c.data_dir() + "/restore/" + fs::path(*file_).filename().string() + "." + sum + ".ckpt";
  }
  // How far the checkpoint at path says the restore got (0 if none).
  static uint64_t CheckpointPosition(const std::string& path) {
    client::RestoreCheckpoint ck;
    return client::read_checkpoint(path, &ck) ? ck.position : 0;
  }
  // Starts a slowed-down restore and kills it once its checkpoint says it
  // got past the start.
  void RestoreKilledPartWay(TestCluster& c, const std::string& ckpt, std::vector<std::string> extra = {}) {
    Spawned r = SpawnRestore(c, extra);
    int rc = -1;
    ASSERT_TRUE(wait_until([&] { return CheckpointPosition(ckpt) > 0 || try_wait_cli(r.pid, &rc); }, 60000))
        << "no checkpoint with progress appeared at " << ckpt;
    ASSERT_EQ(rc, -1) << "the restore ended (rc " << rc << ") before it could be killed: " << read_text(r.err);
    ASSERT_EQ(kill(r.pid, SIGKILL), 0);
    EXPECT_EQ(wait_cli(r.pid, 10), 128 + SIGKILL);
  }

  struct Spawned {
    int pid = -1;
    std::string out, err;
  };
  Spawned SpawnRestore(TestCluster& c, std::vector<std::string> extra = {}, std::vector<std::string> env = {}) {
    Spawned s;
    static int n = 0;
    s.out = c.tmp() / ("restore-" + std::to_string(n++) + ".out");
    s.err = s.out + ".err";
    std::vector<std::string> args{"restore", *file_, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    s.pid = spawn_cli_capture(c.args(args), env, s.out, s.err);
    return s;
  }

  static TestCluster* src_;
  static std::string* file_;
  static RecordMap* records_;
};
TestCluster* RestoreFaultsTest::src_ = nullptr;
std::string* RestoreFaultsTest::file_ = nullptr;
RecordMap* RestoreFaultsTest::records_ = nullptr;

// kill -9 a serving node that is not the entry node while the restore runs
// (R=2): the restore completes and every record is readable.
TEST_F(RestoreFaultsTest, ServingNodeKilledMidRestoreStillCompletes) {
  TestCluster c("rfn");
  Up(c, {"--nodes", "3", "--replicas", "2"}, {"CACHEVAULT_FAILPOINTS=restore.replica.apply@node2=delay(3000)"});
  Spawned r = SpawnRestore(c, {"--entry-node", "0"});
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  int rc = -1;
  ASSERT_FALSE(try_wait_cli(r.pid, &rc)) << "the restore ended (rc " << rc << ") before node2 could be killed";
  const int pid = c.pid_of("serving", 2);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  EXPECT_TRUE(c.wait_state("serving", 2, "down"));
  rc = wait_cli(r.pid, 120);
  ASSERT_EQ(rc, 0) << "restore after node2 was killed: " << read_text(r.err) << "\n" << LogTail(c, "node0");
  std::cout << "[ info     ] " << read_text(r.out);
  EXPECT_EQ(diff_records(*records_, Scan(c), "backup file", "scan after restore"), "");
  // Every record readable one by one too (a sample).
  int n = 0;
  for (const auto& [k, rec] : *records_) {
    if (n++ % 1500) continue;
    CliResult g = c.cli({"get", k});
    EXPECT_EQ(g.rc, 0) << k << ": " << g.err;
    EXPECT_EQ(g.out, rec["value"].get<std::string>()) << k;
  }
}

// The client is killed (SIGKILL) after it saved a checkpoint; restore
// --resume finishes and the cluster holds what an uninterrupted restore
// gives: exactly the file's records. A replica delay slows the restore down
// so the kill lands in the middle.
TEST_F(RestoreFaultsTest, ClientKilledMidRestoreResumesToTheSameResult) {
  TestCluster c("rfc");
  Up(c, {"--nodes", "3", "--replicas", "2"}, {"CACHEVAULT_FAILPOINTS=restore.replica.apply@node2=delay(80)*"});
  const std::string ckpt = Checkpoint(c);
  RestoreKilledPartWay(c, ckpt);
  const size_t partial = Scan(c).size();
  std::cout << "[ info     ] " << partial << " records in the cluster when the client was killed\n";
  EXPECT_LT(partial, records_->size()) << "the restore had finished when it was killed";

  CliResult resumed = c.cli({"restore", *file_, "--resume", "--json"}, {}, 180);
  ASSERT_EQ(resumed.rc, 0) << resumed.err;
  auto lines = parse_json_lines(resumed.out);
  ASSERT_FALSE(lines.empty());
  std::cout << "[ info     ] resumed: " << lines.back().dump() << "\n";
  const nlohmann::json& j = lines.back();
  const uint64_t skipped = j.value("skipped", uint64_t(0));
  EXPECT_GT(skipped, 0u) << "--resume started from the beginning: " << j.dump();
  EXPECT_EQ(j.value("resumed_from", uint64_t(0)), skipped) << j.dump();
  // This run reports what it restored, not the whole file.
  EXPECT_EQ(j.value("records", uint64_t(0)) + skipped, records_->size()) << j.dump();
  EXPECT_EQ(diff_records(*records_, Scan(c), "backup file", "scan after resume"), "");
  EXPECT_FALSE(fs::exists(ckpt)) << "the checkpoint of a finished restore was left behind";
}

// The checkpoint belongs to one run of the cluster: a cluster of the same
// name started again holds none of what the dead one had taken, so a resume
// against it starts from the beginning, says so, and restores every record.
TEST_F(RestoreFaultsTest, ResumeIntoANewClusterOfTheSameNameStartsFromTheBeginning) {
  TestCluster c("rfi");
  const std::vector<std::string> flags{"--nodes", "3", "--replicas", "2"};
  Up(c, flags, {"CACHEVAULT_FAILPOINTS=restore.replica.apply@node2=delay(80)*"});
  const std::string ckpt = c.tmp() / "restore.ckpt";  // outside the cluster's directory: it outlives the cluster
  RestoreKilledPartWay(c, ckpt, {"--checkpoint", ckpt});
  ASSERT_GT(CheckpointPosition(ckpt), 0u);
  ASSERT_EQ(c.down().rc, 0);
  Up(c, flags);
  CliResult resumed = c.cli({"restore", *file_, "--resume", "--checkpoint", ckpt, "--json"}, {}, 180);
  ASSERT_EQ(resumed.rc, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("from the beginning"), std::string::npos) << resumed.err;
  auto lines = parse_json_lines(resumed.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().value("skipped", uint64_t(99)), 0u) << lines.back().dump();
  EXPECT_EQ(lines.back().value("records", uint64_t(0)), records_->size()) << lines.back().dump();
  EXPECT_EQ(diff_records(*records_, Scan(c), "backup file", "scan after resume"), "");
}

// A checkpoint exists from the first record sent: a restore killed as soon
// as anything reached the cluster can be resumed. It lives in the cluster's
// directory, so the backup's own directory (which may be read-only) is
// never written.
TEST_F(RestoreFaultsTest, ACheckpointExistsFromTheFirstRecordSent) {
  TestCluster c("rf1");
  Up(c, {"--nodes", "3", "--replicas", "2"}, {"CACHEVAULT_FAILPOINTS=restore.replica.apply@node2=delay(80)*"});
  const std::string ckpt = Checkpoint(c);
  const auto next_to_file = [&] {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(fs::path(*file_).parent_path())) n += e.path() != fs::path(*file_);
    return n;
  };
  const size_t beside_before = next_to_file();
  Spawned r = SpawnRestore(c);
  int rc = -1;
  ASSERT_TRUE(wait_until([&] { return c.serving_records() > 0 || try_wait_cli(r.pid, &rc); }, 60000));
  ASSERT_EQ(rc, -1) << "the restore ended (rc " << rc << ") before it could be killed: " << read_text(r.err);
  ASSERT_EQ(kill(r.pid, SIGKILL), 0);
  wait_cli(r.pid, 10);
  EXPECT_TRUE(fs::exists(ckpt)) << "records reached the cluster but there is no checkpoint at " << ckpt;
  EXPECT_EQ(next_to_file(), beside_before) << "the restore wrote next to the backup file";
  CliResult resumed = c.cli({"restore", *file_, "--resume", "--json"}, {}, 180);
  ASSERT_EQ(resumed.rc, 0) << resumed.err;
  EXPECT_EQ(resumed.err.find("no checkpoint"), std::string::npos) << resumed.err;
  EXPECT_EQ(diff_records(*records_, Scan(c), "backup file", "scan after resume"), "");
}

// --resume with no checkpoint is not an error: the restore starts from the
// beginning and says so.
TEST_F(RestoreFaultsTest, ResumeWithoutACheckpointStartsFromTheBeginningAndSaysSo) {
  TestCluster c("rf0");
  Up(c);
  CliResult r = c.cli({"restore", *file_, "--resume", "--json"}, {}, 180);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("no checkpoint"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("from the beginning"), std::string::npos) << r.err;
  EXPECT_EQ(diff_records(*records_, Scan(c), "backup file", "scan after restore"), "");
}

// A checkpoint that cannot be written is found before anything is sent.
TEST_F(RestoreFaultsTest, AnUnwritableCheckpointIsRefusedBeforeAnythingIsSent) {
  TestCluster c("rfw");
  Up(c);
  const std::string not_a_dir = c.tmp() / "plain-file";
  { std::ofstream(not_a_dir) << "x"; }
  const std::string ckpt = not_a_dir + "/restore.ckpt";
  CliResult r = c.cli({"restore", *file_, "--checkpoint", ckpt}, {}, 120);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find(ckpt), std::string::npos) << "the error names the checkpoint: " << r.err;
  EXPECT_NE(r.err.find("nothing was sent"), std::string::npos) << r.err;
  EXPECT_TRUE(Scan(c).empty()) << "records were sent although the checkpoint could not be written";
}

// The client's own failpoints act in the client (CLI.md: `@client`):
// restore.client.send=error makes one batch fail, which is retried.
TEST_F(RestoreFaultsTest, ClientFailpointsActInTheRestoreClient) {
  TestCluster c("rff");
  Up(c);
  CliResult r = c.cli({"restore", *file_, "--json"}, {"CACHEVAULT_FAILPOINTS=restore.client.send@client=error"}, 120);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto lines = parse_json_lines(r.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_GE(lines.back().value("failed_retries", uint64_t(0)), 1u)
      << "restore.client.send@client=error did not act: no batch failed and was retried: " << lines.back().dump();
  EXPECT_EQ(diff_records(*records_, Scan(c), "backup file", "scan after restore"), "");
  // A bad spec in the client's environment is refused like anywhere else.
  CliResult bad = c.cli({"restore", *file_}, {"CACHEVAULT_FAILPOINTS=restore.client.send=bogus"}, 60);
  EXPECT_NE(bad.rc, 0) << "a bad CACHEVAULT_FAILPOINTS in the client was ignored";
}

// The entry node is killed: the client stops, naming the entry node and
// --resume; resuming through another node finishes with the same result.
TEST_F(RestoreFaultsTest, EntryNodeKilledThenResumedThroughAnotherNode) {
  TestCluster c("rfe");
  Up(c, {"--nodes", "3", "--replicas", "2"}, {"CACHEVAULT_FAILPOINTS=restore.replica.apply@node2=delay(80)*"});
  Spawned r = SpawnRestore(c, {"--entry-node", "0"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  int rc = -1;
  ASSERT_FALSE(try_wait_cli(r.pid, &rc)) << "the restore ended (rc " << rc << ") before node0 could be killed";
  const int pid = c.pid_of("serving", 0);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  rc = wait_cli(r.pid, 60);
  const std::string err = read_text(r.err);
  EXPECT_NE(rc, 0) << "the restore claimed success after its entry node died";
  EXPECT_LT(rc, 124) << "the restore crashed or hung";
  EXPECT_NE(err.find("node0"), std::string::npos) << "the message should name the entry node: " << err;
  EXPECT_NE(err.find("--resume"), std::string::npos) << "the message should say how to resume: " << err;
  std::cout << "[ info     ] client after the entry node died: rc " << rc << ": " << err;

  CliResult resumed = c.cli({"restore", *file_, "--resume", "--entry-node", "1", "--json"}, {}, 180);
  ASSERT_EQ(resumed.rc, 0) << resumed.err;
  std::cout << "[ info     ] resumed: " << resumed.out;
  EXPECT_EQ(diff_records(*records_, Scan(c), "backup file", "scan after resume"), "");
}

// A replica that stalls for good (restore.replica.apply@node1=hang): its
// coordinators give up on it after kReplicaTimeoutMs, the launcher fences it
// once its heartbeat is kNodeHeartbeatTimeoutMs old, the table moves its
// partitions, and the failed-record list carries the restore to the end
// with every record. The cluster runs on a test clock, moved past both
// timeouts once node1 is stuck.
TEST_F(RestoreFaultsTest, StalledReplicaDoesNotHangTheRestore) {
  TestCluster c("rfh");
  Up(c, {"--nodes", "3", "--replicas", "2"},
     {"CACHEVAULT_FAILPOINTS=restore.replica.apply@node1=hang", kTestClockEnvEntry});
  const std::string out = c.tmp() / "restore.out", err = c.tmp() / "restore.err";
  const int pid = spawn_cli_capture(c.args({"restore", *file_, "--json", "--entry-node", "0"}), {}, out, err);
  ASSERT_TRUE(wait_until([&] { return c.log("node1").find(": hang") != std::string::npos; }, 60000))
      << "node1 never reached its hang\n" << LogTail(c, "node1");
  advance_clock(c, shm::kNodeHeartbeatTimeoutMs + 1000, {"serving1"});
  const int rc = wait_cli(pid, 120);
  std::cout << "[ info     ] restore with node1 stalled: rc " << rc << "\n[ info     ] stdout: "
            << read_text(out).substr(0, 400) << "\n[ info     ] stderr: " << read_text(err).substr(0, 1200) << "\n";
  ASSERT_EQ(rc, 0) << read_text(err) << LogTail(c, "launcher", 800) << LogTail(c, "node0", 800);
  EXPECT_EQ(c.state_of("serving", 1), "down") << "the stalled node should have been fenced";
  EXPECT_NE(c.log("launcher").find("has not stamped its heartbeat"), std::string::npos) << LogTail(c, "launcher");
  EXPECT_EQ(diff_records(*records_, Scan(c), "backup file", "scan after restore"), "");
}

}  // namespace
}  // namespace cv::test
