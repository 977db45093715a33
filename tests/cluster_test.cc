// A real cluster as a user drives it: data commands, replication, a killed
// node, a cluster started twice, a stale block, permissions.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/cli_runner.h"

namespace cv::test {
namespace {

class ClusterTest : public ::testing::Test {
 protected:
  void Up(const std::vector<std::string>& flags = {}) {
    CliResult r = cluster_.up(flags);
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  CliResult Cli(const std::vector<std::string>& args) { return cluster_.cli(args); }
  uint64_t SumRecords() {
    uint64_t sum = 0;
    const nlohmann::json st = cluster_.status();
    if (!st.contains("nodes")) return 0;
    for (const auto& n : st["nodes"])
      if (n["role"] == "serving") sum += n["records"].get<uint64_t>();
    return sum;
  }
  // Status figures are stamped by each node's heartbeat; wait for them.
  uint64_t WaitForRecords(uint64_t want) {
    uint64_t got = 0;
    for (int i = 0; i < 100 && (got = SumRecords()) != want; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return got;
  }

  TestCluster cluster_{"ct"};
};

TEST_F(ClusterTest, PutGetDelScanRoundTrip) {
  Up();
  ASSERT_EQ(Cli({"put", "alpha", "one"}).rc, 0);
  ASSERT_EQ(Cli({"put", "beta", "two"}).rc, 0);
  CliResult g = Cli({"get", "alpha"});
  EXPECT_EQ(g.rc, 0);
  EXPECT_EQ(g.out, "one");  // byte for byte: no newline into a pipe
  ASSERT_EQ(Cli({"put", "alpha", "uno"}).rc, 0);
  EXPECT_EQ(Cli({"get", "alpha"}).out, "uno");
  ASSERT_EQ(Cli({"del", "beta"}).rc, 0);
  EXPECT_EQ(Cli({"get", "beta"}).rc, 1);
  EXPECT_EQ(Cli({"get", "never-written"}).rc, 1);
  auto lines = parse_json_lines(Cli({"scan", "--json"}).out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["key"], "alpha");
  EXPECT_EQ(lines[0]["value"], "uno");
  EXPECT_EQ(lines[0]["version"], 2);
  EXPECT_GT(lines[0]["timestamp"].get<uint64_t>(), 0u);
}

TEST_F(ClusterTest, LoadedRecordsSitOnExactlyRNodes) {
  Up({"--nodes", "3", "--replicas", "2"});
  CliResult r = Cli({"load", "--records", "100000", "--value-size", "20"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(WaitForRecords(200000), 200000u);
  auto lines = parse_json_lines(Cli({"scan", "--json"}).out);
  EXPECT_EQ(lines.size(), 100000u);
}

TEST_F(ClusterTest, AckLogListsEveryAcknowledgedWrite) {
  Up();
  const std::string log = cluster_.tmp() / "acks.log";
  ASSERT_EQ(Cli({"load", "--records", "500", "--ack-log", log}).rc, 0);
  std::ifstream in(log);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    EXPECT_NE(line.find('\t'), std::string::npos);
  }
  EXPECT_EQ(n, 500);
}

TEST_F(ClusterTest, KilledNodeIsMarkedDownAndItsKeysStayReadable) {
  Up({"--nodes", "3", "--replicas", "2"});
  ASSERT_EQ(Cli({"load", "--records", "300", "--key-prefix", "k"}).rc, 0);
  const int pid = cluster_.node_pid(1);
  ASSERT_GT(pid, 0);
  kill(pid, SIGKILL);
  bool down = false;
  for (int i = 0; i < 20 && !down; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const nlohmann::json st = cluster_.status();
    for (const auto& n : st["nodes"])
      if (n["role"] == "serving" && n["id"] == 1) down = n["state"] == "down";
  }
  EXPECT_TRUE(down) << "node1 not marked down within a second";
  for (int i = 0; i < 300; i += 7) {
    char key[32];
    snprintf(key, sizeof key, "k%010d", i);
    EXPECT_EQ(Cli({"get", key}).rc, 0) << key;
  }
  // Writes go on against the recomputed table.
  EXPECT_EQ(Cli({"put", "after-failure", "x"}).rc, 0);
  EXPECT_EQ(Cli({"get", "after-failure"}).out, "x");
}

TEST_F(ClusterTest, SecondClusterWithTheSameNameIsRefused) {
  Up();
  CliResult again = cluster_.up();
  EXPECT_EQ(again.rc, 1);
  EXPECT_NE(again.err.find("already running"), std::string::npos) << again.err;
  EXPECT_EQ(Cli({"put", "still", "works"}).rc, 0);
}

TEST_F(ClusterTest, StaleBlockOfAKilledLauncherIsReplaced) {
  Up();
  const int launcher = cluster_.status()["launcher_pid"].get<int>();
  kill(launcher, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_NE(Cli({"status"}).rc, 0);
  CliResult r = cluster_.up();
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("stale"), std::string::npos) << r.err;
  EXPECT_EQ(Cli({"put", "fresh", "start"}).rc, 0);
}

TEST_F(ClusterTest, BlockDataDirAndLogsAreOwnerOnly) {
  Up();
  struct stat st{};
  ASSERT_EQ(stat(("/dev/shm/cachevault." + cluster_.name()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((cluster_.tmp() / "data").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((cluster_.tmp() / "data/logs/node0.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ClusterTest, DownRemovesTheBlockAndStopsEveryProcess) {
  Up();
  std::vector<int> pids;
  const nlohmann::json st = cluster_.status();
  for (const auto& n : st["nodes"]) pids.push_back(n["pid"].get<int>());
  ASSERT_EQ(cluster_.down().rc, 0);
  EXPECT_FALSE(std::filesystem::exists("/dev/shm/cachevault." + cluster_.name()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int pid : pids) EXPECT_NE(kill(pid, 0), 0) << pid;
  EXPECT_EQ(Cli({"status"}).rc, 1);
}

}  // namespace
}  // namespace cv::test
