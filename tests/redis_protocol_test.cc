// The Redis protocol of the serving nodes, driven by clients nobody here
// wrote (redis-cli -c, redis-benchmark --cluster, redis-py's RedisCluster)
// and by raw connections, with error replies compared byte for byte with a
// real redis-server's.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "cachevault/version.h"
#include "resp/key_slot.h"
#include "shm/limits.h"
#include "shm/messages.h"
#include "tests/support/cli_runner.h"
#include "tests/support/redis_support.h"

namespace cv::test {
namespace {

class RedisClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CliResult r = cluster_.up({"--nodes", "3", "--replicas", "2"});
    ASSERT_EQ(r.rc, 0) << r.err;
    for (int i = 0; i < 3; ++i) {
      ports_.push_back(redis_port(cluster_, i));
      ASSERT_GT(ports_.back(), 0);
    }
  }
  // redis-cli -c against node `node`; its stdout.
  std::string Cli(std::vector<std::string> args, int node = 0) {
    args.insert(args.begin(), {"-c", "-p", std::to_string(ports_[node])});
    CliResult r = run_program("redis-cli", args);
    EXPECT_EQ(r.rc, 0) << r.err;
    return r.out;
  }
  // The node whose front end is primary for `key`, from CLUSTER NODES.
  int PrimaryOf(const std::string& key) {
    RespConn c = RespConn::tcp(ports_[0]);
    c.send(resp_command({"CLUSTER", "SLOTS"}));
    const std::string slots = c.read_reply();
    const int slot = int(resp::key_slot(key));
    // Walk the ranges: *N then per range *3 :first :last *3 $ip :port $id.
    size_t pos = 0;
    while ((pos = slots.find("*3\r\n:", pos)) != std::string::npos) {
      pos += 5;
      const int first = std::stoi(slots.substr(pos));
      const size_t l = slots.find(":", pos) + 1;
      const int last = std::stoi(slots.substr(l));
      const size_t p = slots.find("\r\n:", slots.find("127.0.0.1", l)) + 3;
      const int port = std::stoi(slots.substr(p));
      if (slot >= first && slot <= last)
        for (int i = 0; i < 3; ++i)
          if (ports_[i] == port) return i;
    }
    return -1;
  }
  TestCluster cluster_{"redis"};
  std::vector<int> ports_;
};

TEST_F(RedisClusterTest, StatusShowsEachNodesPortAndPrivateSocket) {
  const auto st = cluster_.status();
  for (const auto& n : st["nodes"]) {
    if (n["role"] != "serving") continue;
    const std::string sock = n["socket"];
    EXPECT_EQ(sock, cluster_.data_dir() + "/node" + std::to_string(n["id"].get<int>()) + ".sock");
    struct stat s {};
    ASSERT_EQ(stat(sock.c_str(), &s), 0) << sock;
    EXPECT_TRUE(S_ISSOCK(s.st_mode));
    EXPECT_EQ(s.st_mode & 0777, 0600u);
    RespConn c = RespConn::unix_socket(sock);
    ASSERT_TRUE(c.ok());
    c.send(resp_command({"PING"}));
    EXPECT_EQ(c.read_reply(), "+PONG\r\n");
  }
  const CliResult text = cluster_.cli({"status"});
  EXPECT_NE(text.out.find(std::to_string(ports_[1])), std::string::npos) << text.out;
}

TEST_F(RedisClusterTest, RedisCliFollowsMovedAndEveryNodeAgrees) {
  for (int i = 0; i < 30; ++i) EXPECT_EQ(Cli({"set", "key:" + std::to_string(i), "v" + std::to_string(i)}, i % 3), "OK\n");
  for (int i = 0; i < 30; ++i) EXPECT_EQ(Cli({"get", "key:" + std::to_string(i)}, (i + 1) % 3), "v" + std::to_string(i) + "\n");
  // Asked without -c, a node that is not the key's primary redirects.
  const int owner = PrimaryOf("foo");
  ASSERT_GE(owner, 0);
  RespConn other = RespConn::tcp(ports_[(owner + 1) % 3]);
  other.send(resp_command({"GET", "foo"}));
  EXPECT_EQ(other.read_reply(), "-MOVED 12182 127.0.0.1:" + std::to_string(ports_[owner]) + "\r\n");
  // READONLY lets a replica of the slot answer the read itself.
  other.send(resp_command({"READONLY"}));
  EXPECT_EQ(other.read_reply(), "+OK\r\n");
  EXPECT_EQ(Cli({"cluster", "keyslot", "foo"}), "12182\n");
  EXPECT_EQ(Cli({"set", "{t}a", "1"}), "OK\n");
  const std::string cross = Cli({"mget", "{t}a", "b"});
  EXPECT_NE(cross.find("CROSSSLOT Keys in request don't hash to the same slot"), std::string::npos) << cross;
  const std::string touch = Cli({"touch", "{t}a", "b"});
  EXPECT_NE(touch.find("CROSSSLOT Keys in request don't hash to the same slot"), std::string::npos) << touch;
  EXPECT_EQ(Cli({"touch", "{t}a", "{t}b", "{t}a"}), "2\n");
  const std::string msetnx = Cli({"msetnx", "{t}c", "1", "d", "2"});
  EXPECT_NE(msetnx.find("CROSSSLOT Keys in request don't hash to the same slot"), std::string::npos) << msetnx;
  EXPECT_EQ(Cli({"msetnx", "{t}c", "1", "{t}d", "2"}, 1), "1\n");
  EXPECT_EQ(Cli({"mget", "{t}c", "{t}d"}, 2), "1\n2\n");
}

TEST_F(RedisClusterTest, MsetnxSetsAllOrNothingUnderRacingClients) {
  const int owner = PrimaryOf("{m}");
  // Pipelined behind each other: the second sees the first's keys.
  RespConn c = RespConn::tcp(ports_[owner]);
  ASSERT_TRUE(c.send(resp_command({"MSETNX", "{m}a", "1", "{m}b", "1"}) +
                     resp_command({"MSETNX", "{m}b", "2", "{m}c", "2"}) + resp_command({"MGET", "{m}a", "{m}b", "{m}c"})));
  EXPECT_EQ(c.read_reply(), ":1\r\n");
  EXPECT_EQ(c.read_reply(), ":0\r\n");
  EXPECT_EQ(c.read_reply(), "*3\r\n$1\r\n1\r\n$1\r\n1\r\n$-1\r\n");
  // Rounds of clients racing for one shared key, each with keys of its
  // own: exactly one wins each round, and only its own keys exist.
  constexpr int kClients = 8;
  std::vector<RespConn> conns;
  for (int i = 0; i < kClients; ++i) conns.push_back(RespConn::tcp(ports_[owner]));
  for (int round = 0; round < 20; ++round) {
    const std::string r = std::to_string(round);
    for (int i = 0; i < kClients; ++i) {
      const std::string mine = "{m}" + r + "." + std::to_string(i);
      ASSERT_TRUE(conns[i].send(resp_command({"MSETNX", mine + ".x", "v", "{m}shared" + r, std::to_string(i),
                                              mine + ".y", "v"})));
    }
    int winner = -1;
    for (int i = 0; i < kClients; ++i) {
      const std::string reply = conns[i].read_reply();
      ASSERT_TRUE(reply == ":1\r\n" || reply == ":0\r\n") << reply;
      if (reply == ":1\r\n") {
        EXPECT_EQ(winner, -1) << "round " << r << ": two clients set the shared key";
        winner = i;
      }
    }
    ASSERT_GE(winner, 0) << "round " << r;
    c.send(resp_command({"GET", "{m}shared" + r}));
    EXPECT_EQ(c.read_reply(), "$1\r\n" + std::to_string(winner) + "\r\n");
    for (int i = 0; i < kClients; ++i) {
      const std::string mine = "{m}" + r + "." + std::to_string(i);
      c.send(resp_command({"EXISTS", mine + ".x", mine + ".y"}));
      EXPECT_EQ(c.read_reply(), i == winner ? ":2\r\n" : ":0\r\n") << "round " << r << " client " << i;
    }
  }
  // Keys and values past what one record carries are refused, naming the limit.
  const std::string half(shm::kMaxValueBytes / 2, 'h');
  c.send(resp_command({"MSETNX", "{m}big1", half, "{m}big2", half}));
  const std::string big = c.read_reply(30000);
  EXPECT_NE(big.find("cachevault takes at most " + std::to_string(shm::kMaxValueBytes)), std::string::npos) << big;
  c.send(resp_command({"EXISTS", "{m}big1", "{m}big2"}));
  EXPECT_EQ(c.read_reply(), ":0\r\n");
}

TEST_F(RedisClusterTest, RedisPyClusterClientWorksAcrossNodes) {
  TempDir tmp;
  const std::string script = tmp / "client.py";
  std::ofstream(script) << R"PY(
import sys
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]))
rc.flushall()
for i in range(300):
    rc.set(f"k{i}", f"v{i}")
assert all(rc.get(f"k{i}") == f"v{i}".encode() for i in range(300))
assert rc.mget("{t}a", "{t}b") == [None, None]
assert rc.mset({"{t}a": "1", "{t}b": "2"}) is True
assert rc.mget("{t}a", "{t}b") == [b"1", b"2"]
assert rc.incr("n") == 1 and rc.incrby("n", 5) == 6 and rc.decr("n") == 5
assert rc.incrbyfloat("f", 1.5) == 1.5
assert rc.append("s", "ab") == 2 and rc.append("s", "cd") == 4 and rc.strlen("s") == 4
assert rc.set("nx", "1", nx=True) is True and rc.set("nx", "2", nx=True) is None
assert rc.set("nx", "3", xx=True, get=True) == b"1" and rc.getdel("nx") == b"3"
assert rc.exists("nx") == 0 and rc.delete("s") == 1 and rc.delete("s") == 0
assert rc.type("k1") == b"string" and rc.ttl("k1") == -1 and rc.ttl("nope") == -2
keys = set(rc.scan_iter(count=37))
assert len(keys) == 304, len(keys)
assert rc.dbsize(target_nodes=RedisCluster.PRIMARIES) == 304
assert sorted(rc.keys("k1?", target_nodes=RedisCluster.PRIMARIES)) == [f"k1{d}".encode() for d in range(10)]
p = rc.pipeline()
for i in range(50):
    p.set(f"p{i}", i)
assert p.execute() == [True] * 50
try:
    rc.incr("k1")
    raise SystemExit("INCR of a non-number did not fail")
except Exception as e:
    assert "value is not an integer or out of range" in str(e), str(e)
rc.flushall()
assert rc.dbsize(target_nodes=RedisCluster.PRIMARIES) == 0
print("redis-py ok")
)PY";
  CliResult r = run_program("/usr/bin/python3", {script, std::to_string(ports_[1])});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("redis-py ok"), std::string::npos) << r.out << r.err;
}

TEST_F(RedisClusterTest, RedisBenchmarkClusterRunsAgainstIt) {
  CliResult r = run_program("redis-benchmark", {"--cluster", "-p", std::to_string(ports_[0]), "-t", "set,get", "-n",
                                                "3000", "-r", "1000", "-c", "8", "-P", "4", "-q"},
                            240);
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("SET:"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("GET:"), std::string::npos) << r.out << r.err;
  // Its keys landed: some records exist on every node.
  uint64_t total = 0;
  for (int i = 0; i < 3; ++i) {
    RespConn c = RespConn::tcp(ports_[i]);
    c.send(resp_command({"DBSIZE"}));
    const std::string n = c.read_reply();
    ASSERT_EQ(n[0], ':') << n;
    total += std::stoull(n.substr(1));
  }
  EXPECT_GT(total, 0u);
}

TEST_F(RedisClusterTest, ErrorRepliesAreWordedAsRealRedisWordsThem) {
  RealRedis real;
  ASSERT_TRUE(real.ok()) << "redis-server did not start";
  const int owner = PrimaryOf("{x}");
  ASSERT_GE(owner, 0);
  RespConn ours = RespConn::tcp(ports_[owner]);
  RespConn theirs = RespConn::unix_socket(real.socket());
  const std::vector<std::vector<std::string>> cmds{
      {"SET", "{x}s", "abc"}, {"INCR", "{x}s"}, {"INCRBY", "{x}s", "zz"}, {"INCRBYFLOAT", "{x}s", "zz"},
      {"SET", "{x}s", "v", "NX", "XX"}, {"SET", "{x}s", "v", "EX", "0"}, {"SET", "{x}s", "v", "FOO"},
      {"GET"}, {"FOO", "bar", "baz"}, {"CLIENT", "FOO"}, {"SET", "{x}n", "9223372036854775807"}, {"INCR", "{x}n"},
      {"DECRBY", "{x}n", "-9223372036854775808"}, {"APPEND", "{x}s", "def"}, {"STRLEN", "{x}s"},
      {"GETDEL", "{x}s"}, {"EXISTS", "{x}s", "{x}n"}, {"DEL", "{x}s", "{x}n", "{x}q"}, {"TYPE", "{x}n"},
      {"ECHO"}, {"PING", "a", "b"}, {"HELLO", "4"}, {"AUTH", "foo"}, {"GETEX", "{x}s", "FOO"},
      {"SETNX", "{x}q", "1"}, {"SETNX", "{x}q", "1"}, {"GETSET", "{x}q", "2"}, {"MSET", "{x}a", "1", "{x}b"},
      {"INCRBYFLOAT", "{x}f", "1e400"}, {"SET", "{x}big", "1e308"}, {"INCRBYFLOAT", "{x}big", "1e308"},
      {"INCRBYFLOAT", "{x}f", "0.1"}, {"INCRBYFLOAT", "{x}f", "0.2"}, {"SELECT", "0"}, {"SET", "{x}e", "v", "KEEPTTL"},
      {"TTL", "{x}e"}, {"PTTL", "{x}none"}, {"PERSIST", "{x}e"}, {"MGET", "{x}e", "{x}none"},
      {"COMMAND", "COUNT", "x"}, {"CLIENT", "ID", "x"}, {"CLIENT", "SETNAME", "a b"}, {"GETEX", "{x}e"},
      // SCAN reads its cursor as strtoul does; FLUSHALL takes one option.
      {"SCAN", "00", "MATCH", "{x}nomatch", "COUNT", "1000"}, {"SCAN", "+0", "MATCH", "{x}nomatch", "COUNT", "1000"},
      {"SCAN", "-1", "MATCH", "{x}nomatch", "COUNT", "1000"}, {"SCAN", " 0"}, {"SCAN", "0x"},
      {"FLUSHALL", "ASYNC", "SYNC"}, {"FLUSHDB", "SYNC", "x"},
      // Without a password the default user takes any; no other user exists.
      {"AUTH", "default", "anything"}, {"AUTH", "nobody", "x"}, {"HELLO", "2", "AUTH", "nobody", "x"},
      {"HELLO", "2", "AUTH", "default", "x", "SETNAME", "a b"}, {"HELLO", "2", "SETNAME", "a\nb"},
      {"WAIT", "0", "abc"}, {"WAIT", "abc", "abc"}, {"WAIT", "0", "-1"},
      {"FOO", std::string(200, 'x'), "y"}, {"SELECT", "4294967296"},
      {"CLIENT", "LIST", "TYPE", "foo"}, {"CLIENT", "LIST", "FOO"}, {"CLIENT", "LIST", "TYPE", "pubsub"},
      {"CLIENT", "LIST", "ID", "abc"}, {"CLIENT", "LIST", "ID", "999999"}, {"CLIENT", "NOSUCH"},
      {"COMMAND", "INFO", "nosuch"}, {"COMMAND", "GETKEYS", "get"}, {"COMMAND", "GETKEYS", "ping", "x"},
      {"COMMAND", "GETKEYS", "nosuch", "a"}, {"COMMAND", "GETKEYS", "get", "a", "b"},
      {"COMMAND", "GETKEYS", "object", "encoding", "k"}, {"COMMAND", "GETKEYS", "object", "encoding"},
      {"COMMAND", "GETKEYS", "object", "help"}, {"COMMAND", "GETKEYS", "memory", "usage", "k", "samples", "5"},
      {"COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch"}, {"COMMAND", "LIST", "FILTERBY", "PATTERN", "getd*"},
      {"COMMAND", "LIST", "x"}, {"COMMAND", "LIST", "FILTERBY", "FOO", "x"},
      {"CONFIG", "GET"}, {"CONFIG", "SET", "nosuch", "1"}, {"CONFIG", "SET", "appendonly", "no"},
      {"CONFIG", "SET", "appendonly"}, {"CONFIG", "GET", "maxmemory-policy"}, {"CONFIG", "GET", "timeout"},
      {"CONFIG", "NOSUCH"},
      // Whole COMMAND INFO entries: flags, ACL categories, tips, key specifications.
      {"COMMAND", "INFO", "get", "set", "mset", "del", "exists", "getex", "ttl", "keys", "scan", "ping", "hello", "save"},
      {"INFO", "modules"}, {"COMMAND", "HELP", "x"}, {"CONFIG", "HELP", "x"}, {"CLIENT", "HELP", "x"},
      // GETRANGE and SUBSTR: negative and out-of-range ends, missing keys.
      {"SET", "{x}gr", "Hello World"}, {"GETRANGE", "{x}gr", "0", "4"}, {"GETRANGE", "{x}gr", "-5", "-1"},
      {"GETRANGE", "{x}gr", "-1", "-5"}, {"GETRANGE", "{x}gr", "5", "3"}, {"GETRANGE", "{x}gr", "0", "-100"},
      {"GETRANGE", "{x}gr", "-100", "-1"}, {"GETRANGE", "{x}gr", "-100", "-99"}, {"GETRANGE", "{x}gr", "3", "1000"},
      {"GETRANGE", "{x}gr", "11", "12"}, {"GETRANGE", "{x}gr", "9223372036854775807", "-9223372036854775808"},
      {"GETRANGE", "{x}gr", "-9223372036854775808", "9223372036854775807"}, {"GETRANGE", "{x}none", "0", "-1"},
      {"GETRANGE", "{x}gr", "a", "1"}, {"GETRANGE", "{x}gr", "0", "1.5"}, {"GETRANGE", "{x}gr", "0"},
      {"GETRANGE", "{x}gr", "0", "1", "2"}, {"GETRANGE", "{x}gr", "+1", "2"}, {"SUBSTR", "{x}gr", "1", "3"},
      {"SUBSTR", "{x}gr"}, {"SET", "{x}gi", "-12345"}, {"GETRANGE", "{x}gi", "1", "-2"},
      {"SET", "{x}ge", ""}, {"GETRANGE", "{x}ge", "0", "-1"}, {"GETRANGE", "{x}ge", "-1", "0"},
      {"COMMAND", "INFO", "getrange", "substr"},
      // SETRANGE: overwrite, zero-padding, missing keys, bad offsets.
      {"SET", "{x}sr", "Hello World"}, {"SETRANGE", "{x}sr", "6", "Redis"}, {"GET", "{x}sr"},
      {"SETRANGE", "{x}sr", "15", "!"}, {"GET", "{x}sr"}, {"SETRANGE", "{x}srn", "3", "abc"}, {"GET", "{x}srn"},
      {"SETRANGE", "{x}srm", "5", ""}, {"EXISTS", "{x}srm"}, {"SETRANGE", "{x}sr", "100", ""},
      {"SETRANGE", "{x}sr", "-1", "x"}, {"SETRANGE", "{x}sr", "-1", ""}, {"SETRANGE", "{x}sr", "abc", "x"},
      {"SETRANGE", "{x}sr", "1.5", "x"}, {"SETRANGE", "{x}sr", "536870912", "x"},
      {"SETRANGE", "{x}sr", "9223372036854775807", "x"}, {"SETRANGE", "{x}srm", "536870912", ""},
      {"SETRANGE", "{x}sr", "536870912", ""}, {"SETRANGE", "{x}sr", "0"}, {"SETRANGE", "{x}sr", "0", "a", "b"},
      {"SET", "{x}si", "12345"}, {"SETRANGE", "{x}si", "1", "9"}, {"GET", "{x}si"}, {"SETRANGE", "{x}si", "0", "-"},
      {"INCR", "{x}si"}, {"SETRANGE", "{x}srn", "0", std::string(3, '\0')}, {"STRLEN", "{x}srn"},
      {"COMMAND", "INFO", "setrange"},
      // TOUCH counts the keys that exist, repeats included, expired ones not.
      {"SET", "{x}t1", "a"}, {"SET", "{x}t2", "b", "PXAT", "1"}, {"TOUCH", "{x}t1", "{x}t1", "{x}none", "{x}t2"},
      {"TOUCH", "{x}none"}, {"TOUCH"}, {"COMMAND", "INFO", "touch"},
      // MSETNX: all or nothing; expired keys are absent; it sets no expiry.
      {"MSETNX", "{x}m1", "a", "{x}m2", "b"}, {"MGET", "{x}m1", "{x}m2"}, {"MSETNX", "{x}m3", "c", "{x}m2", "d"},
      {"EXISTS", "{x}m3"}, {"GET", "{x}m2"}, {"MSETNX", "{x}m3"}, {"MSETNX", "{x}m3", "a", "{x}m4"}, {"MSETNX"},
      {"MSETNX", "{x}m5", "1", "{x}m5", "2"}, {"GET", "{x}m5"}, {"SET", "{x}m6", "v", "PXAT", "1"},
      {"MSETNX", "{x}m6", "new", "{x}m7", ""}, {"MGET", "{x}m6", "{x}m7"}, {"TTL", "{x}m6"},
      {"COMMAND", "INFO", "msetnx"},
      // OBJECT ENCODING / REFCOUNT of values SET stores; MEMORY USAGE's options.
      {"SET", "{x}oi", "123"}, {"OBJECT", "ENCODING", "{x}oi"}, {"OBJECT", "REFCOUNT", "{x}oi"},
      {"SET", "{x}oi", "12345"}, {"OBJECT", "encoding", "{x}oi"}, {"OBJECT", "REFCOUNT", "{x}oi"},
      {"SET", "{x}oi", "-5"}, {"OBJECT", "ENCODING", "{x}oi"}, {"OBJECT", "REFCOUNT", "{x}oi"},
      {"SET", "{x}oi", "9223372036854775807"}, {"OBJECT", "ENCODING", "{x}oi"},
      {"SET", "{x}oi", "9223372036854775808"}, {"OBJECT", "ENCODING", "{x}oi"}, {"SET", "{x}oi", "0123"},
      {"OBJECT", "ENCODING", "{x}oi"}, {"SET", "{x}oi", "1.5"}, {"OBJECT", "ENCODING", "{x}oi"},
      {"SET", "{x}oe", "hello"}, {"OBJECT", "ENCODING", "{x}oe"}, {"OBJECT", "REFCOUNT", "{x}oe"},
      {"SET", "{x}oe", std::string(44, 'e')}, {"OBJECT", "ENCODING", "{x}oe"}, {"SET", "{x}or", std::string(45, 'r')},
      {"OBJECT", "ENCODING", "{x}or"}, {"OBJECT", "REFCOUNT", "{x}or"}, {"SET", "{x}oe", ""},
      {"OBJECT", "ENCODING", "{x}oe"}, {"OBJECT", "ENCODING", "{x}none"}, {"OBJECT", "REFCOUNT", "{x}none"},
      {"SET", "{x}ox", "v", "PXAT", "1"}, {"OBJECT", "ENCODING", "{x}ox"}, {"MEMORY", "USAGE", "{x}ox"},
      {"OBJECT", "ENCODING"}, {"OBJECT", "ENCODING", "{x}oe", "x"}, {"OBJECT"}, {"OBJECT", "NOSUCH", "{x}oe"},
      {"MEMORY", "USAGE", "{x}none"}, {"MEMORY", "USAGE", "{x}none", "SAMPLES", "x"},
      {"MEMORY", "USAGE", "{x}oe", "SAMPLES", "-1"}, {"MEMORY", "USAGE", "{x}oe", "FOO"},
      {"MEMORY", "USAGE", "{x}oe", "SAMPLES"}, {"MEMORY", "USAGE"}, {"MEMORY"}, {"MEMORY", "NOSUCH"},
      {"MEMORY", "USAGE", "{x}none", "samples", "0", "SAMPLES", "5"},
  };
  for (const auto& cmd : cmds) {
    ASSERT_TRUE(ours.send(resp_command(cmd)));
    ASSERT_TRUE(theirs.send(resp_command(cmd)));
    std::string label;
    for (const auto& a : cmd) label += a + " ";
    EXPECT_EQ(ours.read_reply(), theirs.read_reply()) << label;
  }
  // The same in RESP3: nulls, maps, sets and verbatim strings.
  RespConn ours3 = RespConn::tcp(ports_[owner]);
  RespConn theirs3 = RespConn::unix_socket(real.socket());
  ASSERT_TRUE(ours3.send(resp_command({"HELLO", "3"})) && theirs3.send(resp_command({"HELLO", "3"})));
  ASSERT_EQ(ours3.read_reply().substr(0, 4), theirs3.read_reply().substr(0, 4));
  const std::vector<std::vector<std::string>> resp3{
      {"SET", "{x}r", "1"},        {"GET", "{x}none"},          {"MGET", "{x}r", "{x}none"},
      {"INCRBYFLOAT", "{x}r", "0.5"}, {"SET", "{x}r", "2", "GET"}, {"SET", "{x}r", "3", "NX", "GET"},
      {"GETEX", "{x}none", "PERSIST"}, {"GETDEL", "{x}none"},   {"CONFIG", "GET", "appendonly"},
      {"CONFIG", "GET", "nosuch"}, {"COMMAND", "INFO", "getex", "nosuch", "dbsize"},
      {"CLIENT", "LIST", "TYPE", "pubsub"}, {"CLIENT", "GETNAME"}, {"INFO", "modules"},
      {"HELLO", "3", "AUTH", "nobody", "x"}, {"TTL", "{x}r"},   {"EXISTS", "{x}r", "{x}r"},
      {"GETRANGE", "{x}r", "0", "-1"}, {"GETRANGE", "{x}none", "0", "-1"}, {"SUBSTR", "{x}r", "5", "6"},
      {"COMMAND", "INFO", "getrange"}, {"TOUCH", "{x}r", "{x}none"}, {"MSETNX", "{x}r", "1", "{x}r2", "2"},
      {"MSETNX", "{x}r3", "1"}, {"OBJECT", "ENCODING", "{x}none"}, {"OBJECT", "ENCODING", "{x}r3"},
      {"MEMORY", "USAGE", "{x}none"}, {"SETRANGE", "{x}r", "1", "ab"}, {"SETRANGE", "{x}none", "0", ""},
  };
  for (const auto& cmd : resp3) {
    ASSERT_TRUE(ours3.send(resp_command(cmd)));
    ASSERT_TRUE(theirs3.send(resp_command(cmd)));
    std::string label;
    for (const auto& a : cmd) label += a + " ";
    EXPECT_EQ(ours3.read_reply(), theirs3.read_reply()) << "RESP3 " << label;
  }
  // Replies only a Redis in cluster mode gives, as redis-server 7.0 with
  // --cluster-enabled yes gave them.
  std::vector<std::pair<std::vector<std::string>, std::string>> cluster_mode{
      {{"SELECT", "1"}, "-ERR SELECT is not allowed in cluster mode\r\n"},
      {{"SELECT", "-1"}, "-ERR SELECT is not allowed in cluster mode\r\n"},
      {{"CLUSTER", "KEYSLOT"}, "-ERR wrong number of arguments for 'cluster|keyslot' command\r\n"},
      {{"CLUSTER", "MYID", "x"}, "-ERR wrong number of arguments for 'cluster|myid' command\r\n"},
      {{"CLUSTER", "GETKEYSINSLOT", "1"}, "-ERR wrong number of arguments for 'cluster|getkeysinslot' command\r\n"},
      {{"CLUSTER", "COUNTKEYSINSLOT", "abc"}, "-ERR value is not an integer or out of range\r\n"},
      {{"CLUSTER", "COUNTKEYSINSLOT", "16384"}, "-ERR Invalid slot\r\n"},
      {{"CLUSTER", "GETKEYSINSLOT", "abc", "1"}, "-ERR value is not an integer or out of range\r\n"},
      {{"CLUSTER", "GETKEYSINSLOT", "1", "-1"}, "-ERR Invalid slot or number of keys\r\n"},
      {{"CLUSTER", "GETKEYSINSLOT", "16384", "1"}, "-ERR Invalid slot or number of keys\r\n"},
      {{"CLUSTER", "NOSUCH"}, "-ERR unknown subcommand 'NOSUCH'. Try CLUSTER HELP.\r\n"},
  };
  // CLIENT SETINFO is Redis 7.2's (clients of that age send it on connect);
  // it answers as 7.2 does.
  const std::vector<std::pair<std::vector<std::string>, std::string>> from_7_2{
      {{"CLIENT", "SETINFO", "lib-name", "redis-py"}, "+OK\r\n"},
      {{"CLIENT", "SETINFO", "LIB-VER", "5.0.1"}, "+OK\r\n"},
      {{"CLIENT", "SETINFO", "foo", "bar"}, "-ERR Unrecognized option 'foo'\r\n"},
      {{"CLIENT", "SETINFO", "lib-name", "a b"}, "-ERR lib-name cannot contain spaces, newlines or special characters.\r\n"},
  };
  cluster_mode.insert(cluster_mode.end(), from_7_2.begin(), from_7_2.end());
  // HELP lists what cachevault answers (its own text).
  for (const std::string container : {"CLIENT", "COMMAND", "CONFIG", "CLUSTER"}) {
    ASSERT_TRUE(ours.send(resp_command({container, "HELP"})));
    const std::string help = ours.read_reply();
    EXPECT_EQ(help[0], '*') << container << ": " << help;
    EXPECT_NE(help.find("HELP"), std::string::npos) << container << ": " << help;
  }
  for (const auto& [cmd, want] : cluster_mode) {
    ASSERT_TRUE(ours.send(resp_command(cmd)));
    EXPECT_EQ(ours.read_reply(), want) << cmd[0] << " " << cmd[1] << " " << (cmd.size() > 2 ? cmd[2] : "");
  }
}

TEST_F(RedisClusterTest, Resp3PipeliningAndMalformedRequests) {
  const int owner = PrimaryOf("{p}");
  RespConn c = RespConn::tcp(ports_[owner]);
  c.send(resp_command({"HELLO", "3"}));
  const std::string hello = c.read_reply();
  EXPECT_EQ(hello.substr(0, 4), "%7\r\n") << hello;
  EXPECT_NE(hello.find("proto\r\n:3"), std::string::npos) << hello;
  // A deep pipeline: every reply, in order.
  std::string batch;
  for (int i = 0; i < 2000; ++i) {
    batch += resp_command({"SET", "{p}" + std::to_string(i), std::to_string(i)});
    batch += resp_command({"GET", "{p}" + std::to_string(i)});
  }
  batch += resp_command({"GET", "{p}absent"});
  ASSERT_TRUE(c.send(batch));
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(c.read_reply(), "+OK\r\n") << i;
    const std::string v = std::to_string(i);
    ASSERT_EQ(c.read_reply(), "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n") << i;
  }
  EXPECT_EQ(c.read_reply(), "_\r\n");  // RESP3 null
  // Inline commands work as in Redis (telnet).
  c.send("PING\r\n");
  EXPECT_EQ(c.read_reply(), "+PONG\r\n");
  // A malformed request gets Redis's error, then the connection closes.
  RespConn bad = RespConn::tcp(ports_[owner]);
  bad.send("*1\r\n$-5\r\n");
  EXPECT_EQ(bad.read_reply(), "-ERR Protocol error: invalid bulk length\r\n");
  EXPECT_TRUE(bad.closed_by_peer());
  RespConn huge = RespConn::tcp(ports_[owner]);
  huge.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$99999999999\r\n");
  EXPECT_EQ(huge.read_reply(), "-ERR Protocol error: invalid bulk length\r\n");
  EXPECT_TRUE(huge.closed_by_peer());
  // The node still serves.
  c.send(resp_command({"PING"}));
  EXPECT_EQ(c.read_reply(), "+PONG\r\n");
}

TEST_F(RedisClusterTest, KeysNoRecordCanHaveAreAbsentToReadsAndRefusedByWrites) {
  // Keys past the 1 KiB limit (one past 64 KiB once reached the node with a
  // wrapped length and hung the connection): reads and deletes see no key,
  // writes are refused naming the limit, alone or behind a pending write.
  const int owner = PrimaryOf("{long}");
  RespConn c = RespConn::tcp(ports_[owner]);
  for (const size_t n : {shm::kMaxKeyBytes + 1, size_t(70000)}) {
    const std::string k = "{long}" + std::string(n - 6, 'k');
    const std::string refused =
        "-ERR key of " + std::to_string(n) + " bytes: cachevault stores keys of 1 to 1024 bytes\r\n";
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"SET", k, "v"}, refused},          {{"SETEX", k, "10", "v"}, refused},
        {{"INCR", k}, refused},              {{"APPEND", k, "x"}, refused},
        {{"MSET", "{long}a", "1", k, "2"}, refused},
        {{"GET", k}, "$-1\r\n"},             {{"EXISTS", k, k}, ":0\r\n"},
        {{"MGET", k, "{long}a"}, "*2\r\n$-1\r\n$1\r\n1\r\n"},
        {{"DEL", k, "{long}b"}, ":1\r\n"},   {{"EXPIRE", k, "10"}, ":0\r\n"},
        {{"TTL", k}, ":-2\r\n"},             {{"GETDEL", k}, "$-1\r\n"},
        {{"GETEX", k, "PERSIST"}, "$-1\r\n"}, {{"PERSIST", k}, ":0\r\n"},
        {{"GETRANGE", k, "0", "-1"}, "$0\r\n\r\n"}, {{"SETRANGE", k, "1", "x"}, refused},
        {{"SETRANGE", k, "1", ""}, ":0\r\n"}, {{"TOUCH", k, "{long}a", k}, ":1\r\n"},
        {{"MSETNX", "{long}c", "1", k, "2"}, refused},
    };
    for (const auto& [cmd, want] : cases) {
      ASSERT_TRUE(c.send(resp_command({"MSET", "{long}a", "1", "{long}b", "2"}) + resp_command(cmd)));
      ASSERT_EQ(c.read_reply(), "+OK\r\n") << n << " " << cmd[0];
      EXPECT_EQ(c.read_reply(), want) << n << " " << cmd[0] << " behind a write";
      ASSERT_TRUE(c.send(resp_command({"SET", "{long}b", "2"})));
      ASSERT_EQ(c.read_reply(), "+OK\r\n");
      ASSERT_TRUE(c.send(resp_command(cmd)));
      EXPECT_EQ(c.read_reply(), want) << n << " " << cmd[0];
    }
  }
}

TEST_F(RedisClusterTest, StringRangesBehindAWriteAndAtTheValueLimit) {
  const int owner = PrimaryOf("{rg}");
  RespConn c = RespConn::tcp(ports_[owner]);
  // Pipelined: each read sees the write before it (through the node).
  ASSERT_TRUE(c.send(resp_command({"SET", "{rg}k", "Hello World"}) + resp_command({"GETRANGE", "{rg}k", "-5", "-1"}) +
                     resp_command({"SETRANGE", "{rg}k", "0", "J"}) + resp_command({"SUBSTR", "{rg}k", "0", "4"}) +
                     resp_command({"SETRANGE", "{rg}k", "13", "!"}) + resp_command({"GETRANGE", "{rg}k", "10", "-1"}) +
                     resp_command({"GETRANGE", "{rg}none", "0", "-1"})));
  EXPECT_EQ(c.read_reply(), "+OK\r\n");
  EXPECT_EQ(c.read_reply(), "$5\r\nWorld\r\n");
  EXPECT_EQ(c.read_reply(), ":11\r\n");
  EXPECT_EQ(c.read_reply(), "$5\r\nJello\r\n");
  EXPECT_EQ(c.read_reply(), ":14\r\n");
  EXPECT_EQ(c.read_reply(), std::string("$4\r\nd\0\0!\r\n", 10));
  EXPECT_EQ(c.read_reply(), "$0\r\n\r\n");
  // The result may not pass cachevault's value limit (proto-max-bulk-len).
  const std::string limit = std::to_string(shm::kMaxValueBytes);
  const std::string too_long = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n";
  c.send(resp_command({"CONFIG", "GET", "proto-max-bulk-len"}));
  EXPECT_NE(c.read_reply().find(limit), std::string::npos);
  c.send(resp_command({"SETRANGE", "{rg}k", limit, "x"}));
  EXPECT_EQ(c.read_reply(), too_long);
  c.send(resp_command({"SETRANGE", "{rg}big", std::to_string(shm::kMaxValueBytes - 1), "xy"}));
  EXPECT_EQ(c.read_reply(), too_long);
  c.send(resp_command({"EXISTS", "{rg}big"}));
  EXPECT_EQ(c.read_reply(), ":0\r\n");
  c.send(resp_command({"SETRANGE", "{rg}big", std::to_string(shm::kMaxValueBytes - 1), "x"}));
  EXPECT_EQ(c.read_reply(30000), ":" + limit + "\r\n");
  c.send(resp_command({"GETRANGE", "{rg}big", "-2", "-1"}));
  EXPECT_EQ(c.read_reply(30000), std::string("$2\r\n\0x\r\n", 8));
  // Another node redirects both.
  RespConn other = RespConn::tcp(ports_[(owner + 1) % 3]);
  const std::string moved = "-MOVED " + std::to_string(resp::key_slot("{rg}")) + " 127.0.0.1:" +
                            std::to_string(ports_[owner]) + "\r\n";
  other.send(resp_command({"GETRANGE", "{rg}k", "0", "1"}));
  EXPECT_EQ(other.read_reply(), moved);
  other.send(resp_command({"SETRANGE", "{rg}k", "0", "x"}));
  EXPECT_EQ(other.read_reply(), moved);
}

TEST_F(RedisClusterTest, ObjectAndMemoryDescribeHowAKeyIsHeld) {
  const int owner = PrimaryOf("{o}");
  RespConn c = RespConn::tcp(ports_[owner]);
  // MEMORY USAGE: the record's blob (a 32-byte header, 8 more with an
  // expiry, key and value) and its 16-byte table slot with a control byte.
  ASSERT_TRUE(c.send(resp_command({"SET", "{o}k", "hello"}) + resp_command({"MEMORY", "USAGE", "{o}k"}) +
                     resp_command({"OBJECT", "ENCODING", "{o}k"})));
  EXPECT_EQ(c.read_reply(), "+OK\r\n");
  EXPECT_EQ(c.read_reply(), ":" + std::to_string(32 + 4 + 5 + 16 + 1) + "\r\n");  // behind the write
  EXPECT_EQ(c.read_reply(), "$6\r\nembstr\r\n");
  c.send(resp_command({"SET", "{o}t", std::string(1000, 'v'), "EX", "100"}));
  ASSERT_EQ(c.read_reply(), "+OK\r\n");
  c.send(resp_command({"MEMORY", "USAGE", "{o}t", "SAMPLES", "0"}));
  EXPECT_EQ(c.read_reply(), ":" + std::to_string(32 + 8 + 4 + 1000 + 16 + 1) + "\r\n");
  c.send(resp_command({"OBJECT", "ENCODING", "{o}t"}));
  EXPECT_EQ(c.read_reply(), "$3\r\nraw\r\n");
  // IDLETIME and FREQ are not kept: not answered.
  c.send(resp_command({"OBJECT", "IDLETIME", "{o}k"}));
  EXPECT_EQ(c.read_reply(), "-ERR unknown subcommand 'IDLETIME'. Try OBJECT HELP.\r\n");
  c.send(resp_command({"OBJECT", "FREQ", "{o}k"}));
  EXPECT_EQ(c.read_reply(), "-ERR unknown subcommand 'FREQ'. Try OBJECT HELP.\r\n");
  for (const std::string container : {"OBJECT", "MEMORY"}) {
    c.send(resp_command({container, "HELP"}));
    const std::string help = c.read_reply();
    EXPECT_EQ(help.substr(0, 2), container == "OBJECT" ? "*9" : "*6") << help;
    EXPECT_NE(help.find(container == "OBJECT" ? "REFCOUNT <key>" : "USAGE <key>"), std::string::npos) << help;
  }
  // The key's slot routes them: another node redirects, a replica with
  // READONLY answers.
  const std::string moved = "-MOVED " + std::to_string(resp::key_slot("{o}")) + " 127.0.0.1:" +
                            std::to_string(ports_[owner]) + "\r\n";
  RespConn other = RespConn::tcp(ports_[(owner + 1) % 3]);
  other.send(resp_command({"OBJECT", "ENCODING", "{o}k"}));
  EXPECT_EQ(other.read_reply(), moved);
  other.send(resp_command({"MEMORY", "USAGE", "{o}k"}));
  EXPECT_EQ(other.read_reply(), moved);
  int answered = 0;
  for (int n = 1; n < 3; ++n) {
    RespConn r = RespConn::tcp(ports_[(owner + n) % 3]);
    r.send(resp_command({"READONLY"}));
    ASSERT_EQ(r.read_reply(), "+OK\r\n");
    r.send(resp_command({"OBJECT", "REFCOUNT", "{o}k"}));
    const std::string reply = r.read_reply();
    if (reply == ":1\r\n") ++answered;
    else EXPECT_EQ(reply, moved);
  }
  EXPECT_EQ(answered, 1);  // two copies of each key: one replica besides the primary
}

TEST_F(RedisClusterTest, ManyLargeValuesInOneReplyArriveWhole) {
  const int owner = PrimaryOf("{big}");
  RespConn c = RespConn::tcp(ports_[owner]);
  // Eight values of 1 MiB each: more than one message can carry, so the
  // node answers in parts and the front end puts the reply together.
  std::vector<std::string> mget{"MGET"};
  std::string pipeline;
  for (int i = 0; i < 8; ++i) {
    const std::string key = "{big}" + std::to_string(i);
    const std::string value(1 << 20, char('a' + i));
    ASSERT_TRUE(c.send(resp_command({"SET", key, value}))) << i << " to node " << owner;
    ASSERT_EQ(c.read_reply(30000), "+OK\r\n");
    mget.push_back(key);
    pipeline += resp_command({"GET", key});
  }
  ASSERT_TRUE(c.send(resp_command(mget)));
  const std::string all = c.read_reply(60000);
  ASSERT_EQ(all.substr(0, 4), "*8\r\n");
  EXPECT_EQ(all.size(), 4 + 8 * (std::string("$1048576\r\n").size() + (1 << 20) + 2));
  EXPECT_EQ(all[all.size() - 3], 'h');
  ASSERT_TRUE(c.send(pipeline));
  for (int i = 0; i < 8; ++i) {
    const std::string one = c.read_reply(60000);
    ASSERT_EQ(one.size(), std::string("$1048576\r\n").size() + (1 << 20) + 2) << i;
    EXPECT_EQ(one[20], char('a' + i));
  }
  // A value past the limit is refused as Redis refuses one past
  // proto-max-bulk-len, and the connection closes.
  RespConn over = RespConn::tcp(ports_[owner]);
  over.send("*3\r\n$3\r\nSET\r\n$5\r\n{big}\r\n$" + std::to_string(shm::kMaxValueBytes + 1) + "\r\n");
  EXPECT_EQ(over.read_reply(), "-ERR Protocol error: invalid bulk length\r\n");
  EXPECT_TRUE(over.closed_by_peer());
}

TEST_F(RedisClusterTest, ThousandsOfConnectionsAtOnce) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 8192);
  setrlimit(RLIMIT_NOFILE, &lim);
  const int want = int(std::min<rlim_t>(2000, lim.rlim_cur - 100));
  ASSERT_GE(want, 1000) << "descriptor limit too low for this test";
  std::vector<RespConn> conns;
  const std::string sock = cluster_.data_dir() + "/node0.sock";
  for (int i = 0; i < want; ++i) {
    conns.push_back(i % 2 ? RespConn::tcp(ports_[0]) : RespConn::unix_socket(sock));
    ASSERT_TRUE(conns.back().ok()) << i;
  }
  for (auto& c : conns) ASSERT_TRUE(c.send(resp_command({"PING"})));
  for (auto& c : conns) ASSERT_EQ(c.read_reply(), "+PONG\r\n");
  RespConn info = RespConn::tcp(ports_[0]);
  info.send(resp_command({"INFO", "clients"}));
  const std::string text = info.read_reply();
  EXPECT_NE(text.find("connected_clients:" + std::to_string(want + 1)), std::string::npos) << text;
}

TEST_F(RedisClusterTest, InfoServerNamesTheCachevaultVersion) {
  RespConn c = RespConn::tcp(ports_[1]);
  c.send(resp_command({"INFO", "server"}));
  const std::string text = c.read_reply();
  EXPECT_NE(text.find("cachevault_version:" CACHEVAULT_VERSION "\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("cachevault_node:1\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("redis_mode:cluster\r\n"), std::string::npos) << text;
  // The CPU section as Redis names and lays it out.
  c.send(resp_command({"INFO", "cpu"}));
  const std::string cpu = c.read_reply();
  EXPECT_NE(cpu.find("\r\n# CPU\r\nused_cpu_sys:"), std::string::npos) << cpu;
  EXPECT_NE(cpu.find("\r\nused_cpu_user_main_thread:"), std::string::npos) << cpu;
}

TEST_F(RedisClusterTest, ClusterCommandsDescribeTheTable) {
  RespConn c = RespConn::tcp(ports_[0]);
  c.send(resp_command({"CLUSTER", "INFO"}));
  const std::string info = c.read_reply();
  EXPECT_NE(info.find("cluster_state:ok"), std::string::npos) << info;
  EXPECT_NE(info.find("cluster_known_nodes:3"), std::string::npos) << info;
  c.send(resp_command({"CLUSTER", "MYID"}));
  const std::string id = c.read_reply();
  EXPECT_EQ(id.substr(0, 5), "$40\r\n") << id;
  // Each range's node as Redis 7.0 gives it: ip, port, id, other endpoints.
  c.send(resp_command({"CLUSTER", "SLOTS"}));
  const std::string slots = c.read_reply();
  EXPECT_NE(slots.find("*4\r\n$9\r\n127.0.0.1\r\n:" + std::to_string(ports_[0]) + "\r\n" + id + "*0\r\n"),
            std::string::npos)
      << slots.substr(0, 300);
  c.send(resp_command({"CLUSTER", "NODES"}));
  const std::string nodes = c.read_reply();
  EXPECT_NE(nodes.find(id.substr(5, 40) + " 127.0.0.1:" + std::to_string(ports_[0])), std::string::npos) << nodes;
  EXPECT_NE(nodes.find("myself,master"), std::string::npos) << nodes;
  c.send(resp_command({"CLUSTER", "SHARDS"}));
  const std::string shards = c.read_reply();
  EXPECT_NE(shards.find("replica"), std::string::npos) << shards;
  // COUNTKEYSINSLOT counts this node's keys of a slot.
  const int owner = PrimaryOf("{c}");
  RespConn o = RespConn::tcp(ports_[owner]);
  for (int i = 0; i < 5; ++i) {
    o.send(resp_command({"SET", "{c}" + std::to_string(i), "x"}));
    ASSERT_EQ(o.read_reply(), "+OK\r\n");
  }
  o.send(resp_command({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(resp::key_slot("{c}"))}));
  EXPECT_EQ(o.read_reply(), ":5\r\n");
  o.send(resp_command({"WAIT", "2", "100"}));
  EXPECT_EQ(o.read_reply(), ":1\r\n");  // R - 1 replicas hold every answered write
}

TEST_F(RedisClusterTest, SaveAndBgsaveRunTheClusterBackup) {
  EXPECT_EQ(Cli({"set", "saved", "yes"}), "OK\n");
  RespConn c = RespConn::tcp(ports_[1]);
  c.send(resp_command({"LASTSAVE"}));
  EXPECT_EQ(c.read_reply(), ":0\r\n");
  // SAVE answers once the backup file is complete.
  c.send(resp_command({"SAVE"}));
  EXPECT_EQ(c.read_reply(120000), "+OK\r\n");
  c.send(resp_command({"LASTSAVE"}));
  const std::string last = c.read_reply();
  ASSERT_EQ(last[0], ':') << last;
  EXPECT_GT(std::stoll(last.substr(1)), 1700000000);
  c.send(resp_command({"INFO", "persistence"}));
  const std::string info = c.read_reply();
  EXPECT_NE(info.find("rdb_bgsave_in_progress:0"), std::string::npos) << info;
  EXPECT_NE(info.find("rdb_last_bgsave_status:ok"), std::string::npos) << info;
  // BGSAVE starts another, into a new file; the first is kept.
  c.send(resp_command({"BGSAVE"}));
  EXPECT_EQ(c.read_reply(), "+Background saving started\r\n");
  const auto files = [&] {
    size_t n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(cluster_.data_dir() + "/backups", ec))
      n += e.path().extension() == ".cvb";
    return n;
  };
  EXPECT_TRUE(wait_until(
      [&] {
        RespConn q = RespConn::tcp(ports_[2]);
        q.send(resp_command({"INFO", "persistence"}));
        return q.read_reply().find("rdb_bgsave_in_progress:0") != std::string::npos && files() >= 2;
      },
      120000, 100));
}

// A free run of `n` ports, found by binding them (a race with other
// programs is possible but unlikely; the test then fails at cluster up).
int free_port_run(int n) {
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int base = 20000 + int(rng() % 30000);
    bool ok = true;
    for (int i = 0; i < n && ok; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(uint16_t(base + i));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      close(fd);
    }
    if (ok) return base;
  }
  return -1;
}

TEST(RedisEndpointsTest, PortBaseAndRequirePass) {
  TestCluster c("redispass");
  const int base = free_port_run(2);
  ASSERT_GT(base, 0);
  CliResult r = c.up({"--nodes", "2", "--replicas", "1", "--port", std::to_string(base), "--requirepass", "s3cret"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(redis_port(c, 0), base);
  EXPECT_EQ(redis_port(c, 1), base + 1);
  RespConn conn = RespConn::tcp(base);
  conn.send(resp_command({"GET", "x"}));
  EXPECT_EQ(conn.read_reply(), "-NOAUTH Authentication required.\r\n");
  // As Redis: the command, its subcommand and the arity are checked before AUTH.
  conn.send(resp_command({"GET"}));
  EXPECT_EQ(conn.read_reply(), "-ERR wrong number of arguments for 'get' command\r\n");
  conn.send(resp_command({"CLIENT", "nosuch"}));
  EXPECT_EQ(conn.read_reply(), "-ERR unknown subcommand 'nosuch'. Try CLIENT HELP.\r\n");
  conn.send(resp_command({"HELLO", "3"}));
  EXPECT_EQ(conn.read_reply(),
            "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> "
            "<pass> option can be used to authenticate the client and select the RESP protocol version at the same "
            "time\r\n");
  conn.send(resp_command({"AUTH", "wrong"}));
  EXPECT_EQ(conn.read_reply(), "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  conn.send(resp_command({"AUTH", "s3cret"}));
  EXPECT_EQ(conn.read_reply(), "+OK\r\n");
  conn.send(resp_command({"PING"}));
  EXPECT_EQ(conn.read_reply(), "+PONG\r\n");
  CliResult cli = run_program("redis-cli", {"-c", "-p", std::to_string(base + 1), "-a", "s3cret", "--no-auth-warning",
                                            "set", "foo", "bar"});
  EXPECT_EQ(cli.out, "OK\n") << cli.err;
  // A port already taken is refused at cluster up, naming it.
  TestCluster clash("redisclash");
  CliResult taken = clash.up({"--nodes", "1", "--replicas", "1", "--port", std::to_string(base)});
  EXPECT_NE(taken.rc, 0);
  EXPECT_NE(taken.err.find(std::to_string(base)), std::string::npos) << taken.err;
  CliResult bad = clash.up({"--nodes", "2", "--port", "65535"});
  EXPECT_EQ(bad.rc, 2) << bad.err;
  EXPECT_NE(bad.err.find("--port"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace cv::test
