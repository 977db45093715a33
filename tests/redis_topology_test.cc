// A Redis Cluster client nobody here wrote (redis-py's RedisCluster) keeps
// writing while the cluster's membership changes under it: a node joins, a
// node leaves, a node is killed -9 and started again. The client follows
// the table through -MOVED, connection errors and -TRYAGAIN as it does with
// Redis Cluster; every write it was told succeeded must be readable after,
// as must every record loaded before, and redis-cli --cluster check must
// find every slot served.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "launcher/subprocess.h"
#include "tests/support/cli_runner.h"
#include "tests/support/redis_support.h"

namespace cv::test {
namespace {

// Writes key:<i> = v<i> until the stop file appears, remembering the ones
// acknowledged; then reads every acknowledged key back through a new client
// and prints one JSON line. Exit 0 only if none is missing or wrong.
constexpr const char* kWriter = R"PY(
import json, os, sys, time
from redis.cluster import RedisCluster
port, stop, progress = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rc = RedisCluster(host="127.0.0.1", port=port, cluster_error_retry_attempts=10)
acked, failed, i = [], 0, 0
while not os.path.exists(stop):
    try:
        rc.set(f"key:{i}", f"v{i}")
        acked.append(i)
    except Exception as e:   # an unacknowledged write may or may not be there
        failed += 1
        time.sleep(0.05)
    i += 1
    if i % 200 == 0:
        with open(progress, "w") as f: f.write(str(len(acked)))
check = RedisCluster(host="127.0.0.1", port=port)
wrong = [j for j in acked if check.get(f"key:{j}") != f"v{j}".encode()]
keys = check.dbsize(target_nodes=RedisCluster.PRIMARIES)
print(json.dumps({"acked": len(acked), "tried": i, "failed": failed, "wrong": len(wrong), "first_wrong": wrong[:5],
                  "dbsize": keys}))
sys.exit(1 if wrong else 0)
)PY";

int Progress(const std::string& path) {
  const std::string text = read_text(path);
  return text.empty() ? 0 : std::atoi(text.c_str());
}

TEST(RedisTopologyTest, RedisPyKeepsEveryAcknowledgedWriteWhileNodesJoinLeaveAndDie) {
  TestCluster cluster("rtopo");
  CliResult up = cluster.up({"--nodes", "3", "--replicas", "2"});
  ASSERT_EQ(up.rc, 0) << up.err;
  const int port0 = redis_port(cluster, 0);
  ASSERT_GT(port0, 0);
  // Enough records that each move takes a while, with the client writing.
  CliResult load = cluster.cli({"load", "--records", "100000", "--value-size", "100"});
  ASSERT_EQ(load.rc, 0) << load.err;

  TempDir tmp;
  const std::string script = tmp / "writer.py", stop = tmp / "stop", progress = tmp / "progress";
  const std::string out = tmp / "out", err = tmp / "err";
  std::ofstream(script) << kWriter;
  const int writer = launcher::spawn_program("/usr/bin/python3", {script, std::to_string(port0), stop, progress}, {},
                                             out, err);
  ASSERT_GT(writer, 0);
  struct StopWriter {  // also on an early return: the writer never outlives the test
    int pid;
    std::string stop;
    ~StopWriter() {
      if (pid <= 0) return;
      std::ofstream(stop) << "";
      if (wait_cli(pid, 60) == 124) kill(pid, SIGKILL);
    }
  } guard{writer, stop};
  // Each step starts only once the client has made progress since the last.
  int seen = 0;
  auto wait_progress = [&](const char* after) {
    EXPECT_TRUE(wait_until([&] { return Progress(progress) >= seen + 1000; }, 60000))
        << "the client made no progress after " << after << "\n" << read_text(err);
    seen = Progress(progress);
  };
  wait_progress("start");

  CliResult add = cluster.cli({"node", "add", "--json"});
  ASSERT_EQ(add.rc, 0) << add.err;
  wait_progress("node add");

  CliResult remove = cluster.cli({"node", "remove", "1", "--json"});
  ASSERT_EQ(remove.rc, 0) << remove.err;
  wait_progress("node remove 1");

  const int victim = cluster.node_pid(2);
  ASSERT_GT(victim, 0);
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  ASSERT_TRUE(cluster.wait_state("serving", 2, "down", 20000));
  ASSERT_TRUE(cluster.wait_healthy(30000)) << cluster.status().dump();
  wait_progress("kill -9 of node 2");

  CliResult start = cluster.cli({"node", "start", "2", "--json"});
  ASSERT_EQ(start.rc, 0) << start.err;
  wait_progress("node start 2");

  std::ofstream(stop) << "";
  const int rc = wait_cli(writer, 120);
  guard.pid = -1;
  const std::string report = read_text(out);
  EXPECT_EQ(rc, 0) << report << read_text(err);
  const nlohmann::json j = nlohmann::json::parse(report, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << report << read_text(err);
  EXPECT_EQ(j.value("wrong", -1), 0) << report;
  EXPECT_GE(j.value("acked", 0), 5000) << report;
  // The loaded records moved with their partitions: none is lost (an
  // unacknowledged write may or may not have landed).
  const int dbsize = j.value("dbsize", -1);
  EXPECT_GE(dbsize, 100000 + j.value("acked", 0)) << report;
  EXPECT_LE(dbsize, 100000 + j.value("tried", 0)) << report;

  // Every slot is served and every node agrees, as redis-cli sees it.
  CliResult check = run_program("redis-cli", {"--cluster", "check", "127.0.0.1:" + std::to_string(port0)});
  EXPECT_EQ(check.rc, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("All 16384 slots covered"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("All nodes agree about slots configuration"), std::string::npos) << check.out;
}

}  // namespace
}  // namespace cv::test
