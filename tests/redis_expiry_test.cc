// Key expiry through the Redis protocol: TTL commands answer byte for byte
// as a real redis-server does, expired keys are never returned, the sweep
// reclaims them without any client touching them, replicas agree on every
// expiry (also after a primary is killed), and backup + restore keep each
// record's expiry while leaving expired records out.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/cli_runner.h"
#include "tests/support/redis_support.h"

namespace cv::test {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Polls `cond` every 100 ms for up to `seconds`; true once it holds.
bool eventually(const std::function<bool()>& cond, int seconds = 60) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return cond();
}

// Runs a Python script (Debian's python3-redis) with the arguments; its output.
CliResult run_python(const TempDir& tmp, const std::string& name, const std::string& code,
                     const std::vector<std::string>& args, int timeout_s = 240) {
  const std::string script = tmp / name;
  std::ofstream(script) << code;
  std::vector<std::string> a{script};
  a.insert(a.end(), args.begin(), args.end());
  return run_program("/usr/bin/python3", a, timeout_s);
}

// The first line of a reply such as ":12\r\n" as a number (INT64_MIN if not one).
int64_t integer_reply(const std::string& r) {
  if (r.size() < 4 || r[0] != ':') return INT64_MIN;
  return std::stoll(r.substr(1));
}

class RedisExpiryTest : public ::testing::Test {
 protected:
  void StartCluster(TestCluster& c, int nodes) {
    CliResult r = c.up({"--nodes", std::to_string(nodes), "--replicas", "2"});
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  TempDir tmp_;
};

TEST_F(RedisExpiryTest, TtlCommandsAnswerAsRealRedis) {
  TestCluster cluster{"ttlcmp"};
  StartCluster(cluster, 3);
  RealRedis real;
  ASSERT_TRUE(real.ok()) << "redis-server did not start";
  // The node that is primary for slot of "{x}": whichever answers without MOVED.
  int port = -1;
  for (int i = 0; i < 3 && port < 0; ++i) {
    RespConn c = RespConn::tcp(redis_port(cluster, i));
    c.send(resp_command({"GET", "{x}probe"}));
    if (c.read_reply().rfind("-MOVED", 0) != 0) port = redis_port(cluster, i);
  }
  ASSERT_GT(port, 0);
  RespConn ours = RespConn::tcp(port);
  RespConn theirs = RespConn::unix_socket(real.socket());
  const std::string at_s = std::to_string(now_ms() / 1000 + 100000);
  const std::string at_ms = std::to_string(now_ms() + 100000123);
  const std::string later_ms = std::to_string(now_ms() + 200000456);
  // Exact: compared byte for byte. Close: both integers, within a few
  // seconds (ms) of each other, since the two servers' clocks are read at
  // slightly different moments.
  enum Mode { kExact, kCloseS, kCloseMs };
  const std::vector<std::pair<std::vector<std::string>, Mode>> cmds{
      {{"SET", "{x}k", "v", "EX", "100"}, kExact}, {{"TTL", "{x}k"}, kCloseS}, {{"PTTL", "{x}k"}, kCloseMs},
      {{"SET", "{x}k", "v", "PX", "100000"}, kExact}, {{"TTL", "{x}k"}, kCloseS},
      {{"SET", "{x}k", "v", "EXAT", at_s}, kExact}, {{"EXPIRETIME", "{x}k"}, kExact},
      {{"PEXPIRETIME", "{x}k"}, kExact}, {{"SET", "{x}k", "w", "PXAT", at_ms}, kExact},
      {{"PEXPIRETIME", "{x}k"}, kExact}, {{"EXPIRETIME", "{x}k"}, kExact},
      {{"SET", "{x}k", "v2", "KEEPTTL"}, kExact}, {{"PEXPIRETIME", "{x}k"}, kExact}, {{"GET", "{x}k"}, kExact},
      {{"SET", "{x}k", "v3", "XX", "GET", "KEEPTTL"}, kExact}, {{"PEXPIRETIME", "{x}k"}, kExact},
      {{"SET", "{x}k", "v4"}, kExact}, {{"TTL", "{x}k"}, kExact}, {{"PEXPIRETIME", "{x}k"}, kExact},
      {{"SET", "{x}k", "v", "EX", "10", "KEEPTTL"}, kExact}, {{"SET", "{x}k", "v", "KEEPTTL", "PX", "10"}, kExact},
      {{"SET", "{x}k", "v", "EX", "10", "PX", "10"}, kExact}, {{"SET", "{x}k", "v", "EX", "10", "EX", "20"}, kExact},
      {{"TTL", "{x}k"}, kCloseS}, {{"SET", "{x}k", "v", "EX", "abc"}, kExact}, {{"SET", "{x}k", "v", "EX", "-1"}, kExact},
      {{"SET", "{x}k", "v", "PX", "0"}, kExact}, {{"SET", "{x}k", "v", "EX", "9223372036854775807"}, kExact},
      {{"SET", "{x}k", "v", "PX", "9223372036854775807"}, kExact}, {{"SET", "{x}k", "v", "EX"}, kExact},
      {{"SET", "{x}gone", "v", "EXAT", "1"}, kExact}, {{"GET", "{x}gone"}, kExact}, {{"EXISTS", "{x}gone"}, kExact},
      {{"TTL", "{x}gone"}, kExact}, {{"SET", "{x}nx", "v", "NX", "EX", "100"}, kExact},
      {{"SET", "{x}nx", "v", "NX", "EX", "100"}, kExact}, {{"SET", "{x}nx", "w", "XX", "GET", "PXAT", at_ms}, kExact},
      {{"PEXPIRETIME", "{x}nx"}, kExact}, {{"GETSET", "{x}nx", "z"}, kExact}, {{"TTL", "{x}nx"}, kExact},
      {{"SETEX", "{x}se", "100", "v"}, kExact}, {{"TTL", "{x}se"}, kCloseS}, {{"SETEX", "{x}se", "0", "v"}, kExact},
      {{"SETEX", "{x}se", "abc", "v"}, kExact}, {{"PSETEX", "{x}se", "-5", "v"}, kExact},
      {{"PSETEX", "{x}se", "100000", "v"}, kExact}, {{"PTTL", "{x}se"}, kCloseMs},
      {{"GETEX", "{x}se", "EXAT", at_s}, kExact}, {{"EXPIRETIME", "{x}se"}, kExact},
      {{"GETEX", "{x}se", "PERSIST"}, kExact}, {{"TTL", "{x}se"}, kExact}, {{"GETEX", "{x}se", "EX", "0"}, kExact},
      {{"GETEX", "{x}se", "EX", "abc"}, kExact}, {{"GETEX", "{x}none", "EX", "0"}, kExact},
      {{"GETEX", "{x}none", "PERSIST"}, kExact}, {{"GETEX", "{x}se", "EX", "10", "PX", "10"}, kExact},
      {{"GETEX", "{x}se", "PERSIST", "EX", "10"}, kExact}, {{"GETEX", "{x}se", "KEEPTTL"}, kExact},
      {{"GETEX", "{x}se", "PX", "100000"}, kExact}, {{"PTTL", "{x}se"}, kCloseMs},
      {{"GETEX", "{x}se", "PXAT", "1"}, kExact}, {{"GET", "{x}se"}, kExact},
      {{"SET", "{x}e", "v"}, kExact}, {{"EXPIRE", "{x}e", "100", "GT"}, kExact}, {{"TTL", "{x}e"}, kExact},
      {{"EXPIRE", "{x}e", "100", "XX"}, kExact}, {{"EXPIRE", "{x}e", "100", "LT"}, kExact},
      {{"TTL", "{x}e"}, kCloseS}, {{"EXPIRE", "{x}e", "100", "NX"}, kExact}, {{"EXPIREAT", "{x}e", at_s}, kExact},
      {{"EXPIREAT", "{x}e", at_s, "GT"}, kExact}, {{"PEXPIREAT", "{x}e", later_ms, "GT"}, kExact},
      {{"PEXPIRETIME", "{x}e"}, kExact}, {{"PEXPIREAT", "{x}e", at_ms, "LT"}, kExact},
      {{"PEXPIRETIME", "{x}e"}, kExact}, {{"PEXPIREAT", "{x}e", later_ms, "LT"}, kExact},
      {{"PEXPIREAT", "{x}e", at_ms, "XX"}, kExact}, {{"EXPIRE", "{x}e", "10", "NX", "XX"}, kExact},
      {{"EXPIRE", "{x}e", "10", "GT", "LT"}, kExact}, {{"EXPIRE", "{x}e", "10", "nx", "gt"}, kExact},
      {{"EXPIRE", "{x}e", "10", "Foo"}, kExact}, {{"EXPIRE", "{x}e", "abc"}, kExact},
      {{"EXPIRE", "{x}e", "9223372036854775807"}, kExact}, {{"PEXPIRE", "{x}e", "9223372036854775807"}, kExact},
      {{"EXPIRE", "{x}e"}, kExact}, {{"PEXPIRE", "{x}e", "100000"}, kExact}, {{"PTTL", "{x}e"}, kCloseMs},
      {{"PERSIST", "{x}e"}, kExact}, {{"PERSIST", "{x}e"}, kExact}, {{"TTL", "{x}e"}, kExact},
      {{"PERSIST", "{x}none"}, kExact}, {{"EXPIRE", "{x}none", "10"}, kExact}, {{"TTL", "{x}none"}, kExact},
      {{"PTTL", "{x}none"}, kExact}, {{"EXPIRETIME", "{x}none"}, kExact}, {{"EXPIRETIME", "{x}e"}, kExact},
      {{"EXPIRE", "{x}e", "-1"}, kExact}, {{"EXISTS", "{x}e"}, kExact}, {{"GET", "{x}e"}, kExact},
      {{"SET", "{x}e", "v"}, kExact}, {{"PEXPIREAT", "{x}e", "0"}, kExact}, {{"TYPE", "{x}e"}, kExact},
      // INCR, APPEND and the like keep the expiry; SET, GETSET and MSET drop it.
      {{"SET", "{x}n", "5", "PXAT", at_ms}, kExact}, {{"INCR", "{x}n"}, kExact}, {{"INCRBY", "{x}n", "5"}, kExact},
      {{"INCRBYFLOAT", "{x}n", "0.5"}, kExact}, {{"APPEND", "{x}n", "9"}, kExact}, {{"DECR", "{x}n"}, kExact},
      {{"PEXPIRETIME", "{x}n"}, kExact}, {{"MSET", "{x}n", "1", "{x}m", "2"}, kExact}, {{"TTL", "{x}n"}, kExact},
      {{"GETDEL", "{x}n"}, kExact}, {{"TTL", "{x}n"}, kExact},
      // SETRANGE keeps the expiry; an expired key is absent to it and to GETRANGE.
      {{"SET", "{x}sr", "hello", "PXAT", at_ms}, kExact}, {{"SETRANGE", "{x}sr", "3", "XYZ"}, kExact},
      {{"PEXPIRETIME", "{x}sr"}, kExact}, {{"GETRANGE", "{x}sr", "1", "-2"}, kExact},
      {{"SET", "{x}gone", "v", "PXAT", "1"}, kExact}, {{"GETRANGE", "{x}gone", "0", "-1"}, kExact},
      {{"SETRANGE", "{x}gone", "0", ""}, kExact}, {{"SETRANGE", "{x}gone", "2", "ab"}, kExact},
      {{"GET", "{x}gone"}, kExact}, {{"TTL", "{x}gone"}, kExact},
  };
  for (const auto& [cmd, mode] : cmds) {
    ASSERT_TRUE(ours.send(resp_command(cmd)));
    ASSERT_TRUE(theirs.send(resp_command(cmd)));
    std::string label;
    for (const auto& a : cmd) label += a + " ";
    const std::string a = ours.read_reply(), b = theirs.read_reply();
    if (mode == kExact) {
      EXPECT_EQ(a, b) << label;
    } else {
      const int64_t x = integer_reply(a), y = integer_reply(b);
      EXPECT_NE(x, INT64_MIN) << label << a;
      EXPECT_NE(y, INT64_MIN) << label << b;
      EXPECT_GE(x, 0) << label;
      EXPECT_LE(std::abs(x - y), mode == kCloseS ? 5 : 5000) << label << a << " vs " << b;
    }
  }
  // INFO keyspace counts the keys with an expiry.
  ASSERT_TRUE(ours.send(resp_command({"SET", "{x}t1", "v", "EX", "1000"})));
  ours.read_reply();
  ASSERT_TRUE(ours.send(resp_command({"INFO", "keyspace"})));
  const std::string info = ours.read_reply();
  EXPECT_NE(info.find("expires="), std::string::npos) << info;
  EXPECT_EQ(info.find("expires=0,"), std::string::npos) << info;
  // ... and the mean time they have left: 1000 s and 3000 s average 2000 s.
  // (Redis estimates it by sampling; cachevault counts every key.)
  ours.send(resp_command({"FLUSHALL"}));
  ours.read_reply();
  for (const char* ttl : {"1000000", "3000000"}) {
    ours.send(resp_command({"SET", std::string("{x}avg") + ttl, "v", "PX", ttl}));
    ours.read_reply();
  }
  ours.send(resp_command({"SET", "{x}forever", "v"}));
  ours.read_reply();
  ASSERT_TRUE(ours.send(resp_command({"INFO", "keyspace"})));
  const std::string keyspace = ours.read_reply();
  const size_t at = keyspace.find("db0:keys=3,expires=2,avg_ttl=");
  ASSERT_NE(at, std::string::npos) << keyspace;
  const int64_t avg = std::stoll(keyspace.substr(at + std::string("db0:keys=3,expires=2,avg_ttl=").size()));
  EXPECT_LE(avg, 2000000) << keyspace;
  EXPECT_GE(avg, 2000000 - 60000) << keyspace;
}

// Expired keys are never returned (through any node and any command), the
// sweep reclaims them on every replica without a client touching them, and
// the cluster's record count drops to the keys without an expiry.
TEST_F(RedisExpiryTest, ExpiredKeysVanishAndTheSweepReclaimsThem) {
  TestCluster cluster{"sweep"};
  StartCluster(cluster, 3);
  CliResult r = run_python(tmp_, "sweep.py", R"PY(
import sys, time
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]))
p = rc.pipeline()
for i in range(400):
    p.set(f"short{i}", "x" * 100, px=1500)
for i in range(100):
    p.set(f"plain{i}", "y")
assert all(p.execute())
n = rc.dbsize(target_nodes=RedisCluster.PRIMARIES)
assert n == 500, n
expires = sum(int(v.get("db0", {}).get("expires", 0)) for v in rc.info("keyspace", target_nodes=RedisCluster.PRIMARIES).values())
assert expires == 400, expires
t = rc.pttl("short7")
assert 0 <= t <= 1500, t
print("written", flush=True)
)PY",
                           {std::to_string(redis_port(cluster, 0))});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  // 500 keys, two replicas each; then only the plain ones, reclaimed by the
  // sweep alone (nothing reads the short keys until the count has dropped).
  EXPECT_TRUE(eventually([&] { return cluster.serving_records() == 200; }, 90))
      << "records held: " << cluster.serving_records();
  r = run_python(tmp_, "check.py", R"PY(
import sys
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]))
assert rc.get("short7") is None and rc.exists("short1", "short2") == 0 and rc.ttl("short3") == -2
assert rc.mget("{a}short", "plain1".replace("plain1", "{a}x")) == [None, None]
assert not any(k.startswith(b"short") for k in rc.scan_iter(count=50))
assert rc.dbsize(target_nodes=RedisCluster.PRIMARIES) == 100
assert rc.get("plain5") == b"y" and rc.ttl("plain5") == -1
print("checked")
)PY",
                 {std::to_string(redis_port(cluster, 1))});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  // The CLI sees the cluster the same way.
  CliResult scan = cluster.cli({"scan", "--json"});
  ASSERT_EQ(scan.rc, 0) << scan.err;
  EXPECT_EQ(parse_json_lines(scan.out).size(), 100u);
  EXPECT_NE(cluster.cli({"get", "plain3"}).rc, 1);
  EXPECT_EQ(cluster.cli({"get", "short3"}).rc, 1);
}

// Every replica of a key holds the same expiry, and after the primary is
// killed the node that takes over answers the same expiry.
TEST_F(RedisExpiryTest, ReplicasAgreeOnExpiryAfterAPrimaryIsKilled) {
  TestCluster cluster{"ttlkill"};
  StartCluster(cluster, 3);
  const std::string ports =
      std::to_string(redis_port(cluster, 0)) + "," + std::to_string(redis_port(cluster, 1)) + "," +
      std::to_string(redis_port(cluster, 2));
  const std::string script = R"PY(
import sys, time, json
import redis
from redis.cluster import RedisCluster
ports = [int(p) for p in sys.argv[2].split(",") if p]
mode = sys.argv[1]
keys = [f"life{i}" for i in range(60)]
def cluster():
    deadline = time.time() + 90
    while True:
        try:
            return RedisCluster(host="127.0.0.1", port=ports[0])
        except Exception:
            if time.time() > deadline: raise
            time.sleep(0.5)
if mode == "write":
    rc = cluster()
    for i, k in enumerate(keys):
        assert rc.set(k, f"v{i}", pxat=int(time.time() * 1000) + 3_600_000 + i)
    want = {k: rc.pexpiretime(k) for k in keys}
    # Every node that holds a key (READONLY lets replicas answer) agrees.
    for p in ports:
        r = redis.Redis(host="127.0.0.1", port=p)
        r.execute_command("READONLY")
        held = 0
        for k in keys:
            try:
                t = r.pexpiretime(k)
            except redis.exceptions.ResponseError as e:
                assert str(e).startswith("MOVED"), str(e)
                continue
            assert t == want[k], (p, k, t, want[k])
            held += 1
        assert held > 0, p
    json.dump(want, open(sys.argv[3], "w"))
    print("written")
else:
    want = json.load(open(sys.argv[3]))
    deadline = time.time() + 120
    while True:
        try:
            rc = cluster()
            got = {k: rc.pexpiretime(k) for k in keys}
            vals = [rc.get(k) for k in keys]
            break
        except Exception as e:
            if time.time() > deadline: raise
            time.sleep(0.5)
    assert got == want, [(k, got[k], want[k]) for k in keys if got[k] != want[k]][:5]
    assert vals == [f"v{i}".encode() for i in range(len(keys))]
    print("agreed")
)PY";
  const std::string state = tmp_ / "expiry.json";
  CliResult r = run_python(tmp_, "kill.py", script, {"write", ports, state});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  const int pid = cluster.node_pid(0);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(cluster.wait_state("serving", 0, "down", 60000));
  const std::string live = std::to_string(redis_port(cluster, 1)) + "," + std::to_string(redis_port(cluster, 2));
  r = run_python(tmp_, "kill.py", script, {"read", live, state});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("agreed"), std::string::npos) << r.out << r.err;
}

// Backups leave expired records out and keep the expiry of the others; a
// restore keeps each record's expiry and skips, and counts, the records
// that expired before it reached them.
TEST_F(RedisExpiryTest, BackupAndRestoreKeepExpiry) {
  TestCluster a{"ttlsrc"};
  StartCluster(a, 3);
  const std::string expiry_file = tmp_ / "a.json";
  const std::string write_script = R"PY(
import sys, time, json
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]))
p = rc.pipeline()
for i in range(30):
    p.set(f"keep{i}", f"k{i}", ex=3600)
    p.set(f"plain{i}", f"p{i}")
for i in range(20):
    p.set(f"soon{i}", f"s{i}", px=int(sys.argv[3]))
assert all(p.execute())
json.dump({f"keep{i}": rc.pexpiretime(f"keep{i}") for i in range(30)}, open(sys.argv[2], "w"))
print("written")
)PY";
  CliResult r = run_python(tmp_, "write.py", write_script, {std::to_string(redis_port(a, 0)), expiry_file, "6000"});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  // Backup 1 at once: the soon keys are in it, with their expiry.
  CliResult b1 = a.cli({"backup", "--json"});
  ASSERT_EQ(b1.rc, 0) << b1.err;
  const std::string file1 = nlohmann::json::parse(b1.out)["file"];
  CliResult ins = run_cli({"inspect", file1, "--records", "--json"});
  ASSERT_EQ(ins.rc, 0) << ins.err;
  int64_t latest_expiry = 0;
  size_t soon = 0, with_expiry = 0;
  for (const auto& j : parse_json_lines(ins.out)) {
    if (!j.contains("key")) continue;
    const std::string k = j["key"];
    if (j.contains("expire_ms")) {
      ++with_expiry;
      if (k.rfind("soon", 0) == 0) latest_expiry = std::max<int64_t>(latest_expiry, j["expire_ms"].get<int64_t>());
    }
    soon += k.rfind("soon", 0) == 0;
  }
  ASSERT_EQ(soon, 20u) << "the backup took longer than the soon keys live; " << ins.out;
  EXPECT_EQ(with_expiry, 50u);
  CliResult summary = run_cli({"inspect", file1, "--json"});
  ASSERT_EQ(summary.rc, 0) << summary.err;
  EXPECT_EQ(nlohmann::json::parse(summary.out)["records_with_expiry"], 50) << summary.out;
  // Backup 2 once they expired: they are not in it.
  ASSERT_TRUE(eventually([&] { return now_ms() > latest_expiry + 50; }, 60));
  CliResult b2 = a.cli({"backup", "--json"});
  ASSERT_EQ(b2.rc, 0) << b2.err;
  const nlohmann::json j2 = nlohmann::json::parse(b2.out);
  EXPECT_EQ(j2["records"], 60);
  const std::string file2 = j2["file"];
  for (const auto& j : parse_json_lines(run_cli({"inspect", file2, "--records", "--json"}).out))
    if (j.contains("key")) EXPECT_NE(j["key"].get<std::string>().rfind("soon", 0), 0u) << j.dump();
  EXPECT_EQ(run_cli({"verify", file2}).rc, 0);

  // Restore backup 1 into another cluster: the soon records are skipped as
  // expired, the others keep their expiry to the millisecond.
  TestCluster b{"ttldst"};
  StartCluster(b, 2);
  CliResult rs = b.cli({"restore", file1, "--json"});
  ASSERT_EQ(rs.rc, 0) << rs.err;
  const nlohmann::json jr = nlohmann::json::parse(rs.out);
  EXPECT_EQ(jr["expired"], 20);
  EXPECT_EQ(jr["records"], 60);
  r = run_python(tmp_, "check.py", R"PY(
import sys, json
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]))
want = json.load(open(sys.argv[2]))
for k, t in want.items():
    assert rc.pexpiretime(k) == t, (k, rc.pexpiretime(k), t)
for i in range(30):
    assert rc.ttl(f"plain{i}") == -1 and rc.get(f"plain{i}") == f"p{i}".encode()
    assert rc.get(f"keep{i}") == f"k{i}".encode()
for i in range(20):
    assert rc.exists(f"soon{i}") == 0
assert rc.dbsize(target_nodes=RedisCluster.PRIMARIES) == 60
print("restored")
)PY",
                 {std::to_string(redis_port(b, 0)), expiry_file});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_EQ(b.serving_records(), 120u);
}

}  // namespace
}  // namespace cv::test
