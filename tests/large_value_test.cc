// Values as large as the limit (16 MiB) on every path a user takes: put and
// get through the CLI, SET and GET through the Redis protocol, replication
// (the value outlives its primary), backup, inspect and restore. A value one
// byte over the limit is refused naming its size, and no spill file
// outlives the cluster.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "shm/limits.h"
#include "tests/support/cli_runner.h"
#include "tests/support/redis_support.h"

namespace cv::test {
namespace {

namespace fs = std::filesystem;

std::string PatternValue(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string v(size, '\0');
  for (auto& c : v) c = char(rng());
  return v;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

size_t SpillFilesOf(const std::string& cluster) {
  const std::string prefix = "cachevault." + cluster + "+spill.";
  size_t n = 0;
  for (const auto& e : fs::directory_iterator("/dev/shm"))
    if (e.path().filename().string().rfind(prefix, 0) == 0) ++n;
  return n;
}

// GET or SET through the Redis protocol, following one MOVED answer.
std::string RedisCall(TestCluster& c, const std::vector<std::string>& cmd) {
  RespConn conn = RespConn::tcp(redis_port(c, 0));
  conn.send(resp_command(cmd));
  std::string reply = conn.read_reply(60000);
  if (reply.rfind("-MOVED ", 0) == 0) {
    const int port = std::stoi(reply.substr(reply.rfind(':') + 1));
    RespConn owner = RespConn::tcp(port);
    owner.send(resp_command(cmd));
    reply = owner.read_reply(60000);
  }
  return reply;
}

std::string Bulk(const std::string& v) { return "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n"; }

TEST(LargeValueTest, ValuesOfTheLimitTravelEveryPath) {
  TestCluster c("lv");
  ASSERT_EQ(c.up({"--nodes", "3", "--replicas", "2"}).rc, 0);
  const std::string big = PatternValue(shm::kMaxValueBytes, 1);
  const std::string file = c.tmp() / "big.bin";
  WriteFile(file, big);

  CliResult put = c.cli({"put", "big", "--value-file", file});
  ASSERT_EQ(put.rc, 0) << put.err;
  CliResult got = c.cli({"get", "big", "--raw"});
  ASSERT_EQ(got.rc, 0) << got.err;
  EXPECT_TRUE(got.out == big) << "get returned " << got.out.size() << " bytes, not the value put";

  // Through the Redis protocol, the same value both ways.
  const std::string other = PatternValue(shm::kMaxValueBytes, 2);
  EXPECT_EQ(RedisCall(c, {"SET", "{r}big", other}), "+OK\r\n");
  EXPECT_TRUE(RedisCall(c, {"GET", "{r}big"}) == Bulk(other));
  EXPECT_TRUE(RedisCall(c, {"GET", "big"}) == Bulk(big));

  // Both replicas hold it: any one node may die.
  const int pid = c.node_pid(0);
  ASSERT_GT(pid, 0);
  kill(pid, SIGKILL);
  ASSERT_TRUE(c.wait_state("serving", 0, "down", 30000));
  got = c.cli({"get", "big", "--raw"});
  ASSERT_EQ(got.rc, 0) << got.err;
  EXPECT_TRUE(got.out == big) << "after node0 died: " << got.out.size() << " bytes";

  // Backup, inspect, restore into a new cluster.
  CliResult b = c.cli({"backup", "--json"}, {}, 300);
  ASSERT_EQ(b.rc, 0) << b.err << b.out;
  const auto backup = parse_json_lines(b.out).back();
  const std::string backup_file = backup["file"].get<std::string>();
  CliResult in = run_cli({"inspect", backup_file, "--json"});
  ASSERT_EQ(in.rc, 0) << in.err;
  EXPECT_EQ(parse_json_lines(in.out).back()["records"].get<uint64_t>(), 2u) << in.out;
  CliResult verify = run_cli({"verify", backup_file});
  EXPECT_EQ(verify.rc, 0) << verify.err << verify.out;

  TestCluster d("lvr");
  ASSERT_EQ(d.up({"--nodes", "2", "--replicas", "2"}).rc, 0);
  CliResult r = d.cli({"restore", backup_file, "--json"}, {}, 300);
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  got = d.cli({"get", "big", "--raw"});
  ASSERT_EQ(got.rc, 0) << got.err;
  EXPECT_TRUE(got.out == big) << "restored: " << got.out.size() << " bytes";
  got = d.cli({"get", "{r}big", "--raw"});
  ASSERT_EQ(got.rc, 0) << got.err;
  EXPECT_TRUE(got.out == other) << "restored: " << got.out.size() << " bytes";

  c.down();
  d.down();
  EXPECT_EQ(SpillFilesOf(c.name()), 0u);
  EXPECT_EQ(SpillFilesOf(d.name()), 0u);
}

TEST(LargeValueTest, OneByteOverTheLimitIsRefusedNamingItsSize) {
  TestCluster c("lvo");
  ASSERT_EQ(c.up({"--nodes", "2", "--replicas", "1"}).rc, 0);
  const std::string file = c.tmp() / "over.bin";
  WriteFile(file, std::string(shm::kMaxValueBytes + 1, 'o'));
  CliResult put = c.cli({"put", "over", "--value-file", file});
  EXPECT_EQ(put.rc, 2) << put.err;
  EXPECT_NE(put.err.find(std::to_string(shm::kMaxValueBytes + 1) + " bytes"), std::string::npos) << put.err;
  EXPECT_EQ(c.cli({"get", "over"}).rc, 1) << "nothing was stored";
  // The Redis protocol refuses it as Redis refuses a bulk past
  // proto-max-bulk-len; the node goes on serving.
  RespConn conn = RespConn::tcp(redis_port(c, 0));
  conn.send("*3\r\n$3\r\nSET\r\n$4\r\nover\r\n$" + std::to_string(shm::kMaxValueBytes + 1) + "\r\n");
  EXPECT_EQ(conn.read_reply(), "-ERR Protocol error: invalid bulk length\r\n");
  RespConn again = RespConn::tcp(redis_port(c, 0));
  again.send(resp_command({"PING"}));
  EXPECT_EQ(again.read_reply(), "+PONG\r\n");
}

}  // namespace
}  // namespace cv::test
