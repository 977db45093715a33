// Every bad input gets a one-line error naming the problem, the exit code of
// CLI.md, and changes nothing.
#include <gtest/gtest.h>

#include "shm/limits.h"
#include "tests/support/cli_runner.h"

namespace cv::test {
namespace {

void ExpectUsageError(const std::vector<std::string>& args, const std::string& mentions) {
  CliResult r = run_cli(args);
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find(mentions), std::string::npos) << "stderr: " << r.err;
}

TEST(BadInputTest, UnknownFlagIsAUsageError) { ExpectUsageError({"status", "--no-such-flag"}, "--no-such-flag"); }
TEST(BadInputTest, MissingArgumentIsAUsageError) { ExpectUsageError({"put", "only-key"}, "VALUE"); }
TEST(BadInputTest, NoCommandIsAUsageError) { EXPECT_EQ(run_cli({}).rc, 2); }
TEST(BadInputTest, ReplicasAboveNodesIsRefused) {
  ExpectUsageError({"cluster", "up", "--name", "bi1", "--nodes", "2", "--replicas", "3"}, "--replicas");
}
TEST(BadInputTest, ZeroNodesIsRefused) { ExpectUsageError({"cluster", "up", "--name", "bi2", "--nodes", "0"}, "--nodes"); }
TEST(BadInputTest, WrongWeightCountIsRefused) {
  ExpectUsageError({"cluster", "up", "--name", "bi3", "--nodes", "3", "--weights", "1,2"}, "--weights");
}
TEST(BadInputTest, BadSizeIsRefused) {
  ExpectUsageError({"cluster", "up", "--name", "bi4", "--node-memory", "lots"}, "--node-memory");
}
TEST(BadInputTest, BadClusterNameIsRefused) { ExpectUsageError({"cluster", "up", "--name", "a/b"}, "cluster name"); }

TEST(BadInputTest, OversizedKeyAndValueAreRefused) {
  ExpectUsageError({"put", std::string(1025, 'k'), "v", "--name", "nonexistent"}, "key");
  TempDir tmp;
  const std::string big = tmp / "big";
  FILE* f = fopen(big.c_str(), "wb");
  std::string v(shm::kMaxValueBytes + 1, 'v');
  fwrite(v.data(), 1, v.size(), f);
  fclose(f);
  ExpectUsageError({"put", "k", "--value-file", big, "--name", "nonexistent"}, "value");
}

TEST(BadInputTest, CommandForAClusterNotRunningFails) {
  for (auto cmd : std::vector<std::vector<std::string>>{
           {"status"}, {"get", "k"}, {"put", "k", "v"}, {"scan"}, {"load", "--records", "5"}, {"backup"}}) {
    cmd.push_back("--name");
    cmd.push_back("not-running-xyz");
    CliResult r = run_cli(cmd);
    EXPECT_EQ(r.rc, 1) << cmd[0];
    EXPECT_NE(r.err.find("not running"), std::string::npos) << cmd[0] << ": " << r.err;
  }
}

TEST(BadInputTest, DownOfAClusterNotRunningFails) {
  CliResult r = run_cli({"cluster", "down", "--name", "not-running-xyz"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("not running"), std::string::npos);
}

// A replica that answers "failed" (an injected error) is never reported as
// a timeout (it once was, after waiting for one): the write either fails
// naming the replica failure, or, once the failing replica is fenced, is
// retried on the live ones and acknowledged, and is then there to read.
TEST(BadInputTest, InjectedReplicaErrorIsNotReportedAsATimeout) {
  TestCluster c("bir");
  ASSERT_EQ(c.up({"--nodes", "2", "--replicas", "2", "--targets", "1"},
                 {"CACHEVAULT_FAILPOINTS=node.replica.apply=error*"})
                .rc,
            0);
  CliResult r = c.cli({"put", "k", "v"}, {}, 60);
  EXPECT_TRUE(c.log("node0").find("(failpoint)") != std::string::npos ||
              c.log("node1").find("(failpoint)") != std::string::npos)
      << "no replica failed the write: the test proves nothing";
  EXPECT_EQ(r.err.find("timeout"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("timed out"), std::string::npos) << r.err;
  if (r.rc == 0) {
    CliResult g = c.cli({"get", "k"});
    EXPECT_EQ(g.rc, 0) << "put exited 0 but the key is absent: " << g.err;
    EXPECT_EQ(g.out, "v");
  } else {
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_NE(r.err.find("replica failed"), std::string::npos) << r.err;
  }
}

TEST(BadInputTest, EveryCommandHasHelp) {
  for (auto cmd : std::vector<std::vector<std::string>>{{}, {"cluster", "up"}, {"cluster", "down"}, {"status"},
                                                         {"put"}, {"get"}, {"del"}, {"load"}, {"scan"}, {"backup"},
                                                         {"restore"}, {"inspect"}, {"verify"}, {"failpoints"},
                                                         {"bench"}}) {
    cmd.push_back("--help");
    EXPECT_EQ(run_cli(cmd).rc, 0) << cmd[0];
  }
}

}  // namespace
}  // namespace cv::test
