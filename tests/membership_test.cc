// Membership on real clusters: the table changes only by moving data first,
// every partition comes back to R copies on its own, lost data is never
// silent, and nodes start, join, leave and rebalance while they serve.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "tests/support/cli_runner.h"
#include "tests/support/cluster_verbs.h"

namespace cv::test {
namespace {

nlohmann::json Health(TestCluster& c) { return c.status().value("partition_health", nlohmann::json::object()); }


nlohmann::json Json(const CliResult& r) {
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

// Partitions each live serving node holds, by id.
std::map<int, int> PartitionsHeld(TestCluster& c) {
  std::map<int, int> out;
  const nlohmann::json s = c.status();  // kept: a range-for over a temporary's member dangles
  for (const auto& n : s["nodes"])
    if (n["role"] == "serving" && n["state"] == "up") out[n["id"].get<int>()] = n["partitions"].get<int>();
  return out;
}

void Kill(TestCluster& c, int node) {
  const int pid = c.pid_of("serving", node);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(c.wait_state("serving", node, "down")) << "node" << node << " not marked down";
}

// Every key of `keys` answers `get` with its value.
void ExpectReadable(TestCluster& c, const RecordMap& want, size_t sample) {
  size_t step = std::max<size_t>(1, want.size() / sample), i = 0, missing = 0;
  for (const auto& [k, r] : want) {
    if (i++ % step) continue;
    CliResult g = c.cli({"get", k});
    if (g.rc != 0 || g.out.rfind(r["value"].get<std::string>(), 0) != 0) {
      if (++missing <= 5) ADD_FAILURE() << "get " << k << ": rc " << g.rc << " " << g.err;
    }
  }
  EXPECT_EQ(missing, 0u) << "keys live before could not be read";
}

// ---- The four ways acknowledged data was lost or hidden. ----

// A restore into a cluster that lost a node no longer re-balances the table
// without moving data: every key live before is still found by get.
TEST(MembershipTest, RestoreAfterANodeDeathHidesNoKey) {
  TestCluster src("mbs");
  Up(src);
  ASSERT_EQ(src.cli({"load", "--records", "3000", "--key-prefix", "file-"}).rc, 0);
  CliResult b = src.cli({"backup", "--json"});
  ASSERT_EQ(b.rc, 0) << b.err;
  const std::string file = Json(b)["file"].get<std::string>();

  TestCluster c("mbr");
  Up(c, {"--nodes", "4", "--replicas", "2"});
  ASSERT_EQ(c.cli({"load", "--records", "20000"}).rc, 0);
  RecordMap before = Scan(c);
  ASSERT_EQ(before.size(), 20000u);
  Kill(c, 2);
  ASSERT_EQ(c.cli({"restore", file}).rc, 0);
  ASSERT_TRUE(c.wait_healthy()) << c.status().dump();
  ExpectReadable(c, before, 200);
  EXPECT_EQ(Scan(c).size(), 23000u);
}

// A node death no longer leaves R-1 copies for ever: the partitions come back
// to R copies from the live replicas, so a second death loses nothing, and
// the backup holds every record.
TEST(MembershipTest, ANodeDeathIsFollowedByRCopiesAgainSoASecondDeathLosesNothing) {
  TestCluster c("mbd");
  Up(c, {"--nodes", "3", "--replicas", "2"});
  ASSERT_EQ(c.cli({"load", "--records", "3000"}).rc, 0);
  RecordMap before = Scan(c);
  Kill(c, 1);
  ASSERT_TRUE(c.wait_healthy()) << "no re-replication: " << c.status().dump();
  EXPECT_EQ(c.serving_records(), 6000u) << "R=2 copies of 3000 records";
  Kill(c, 2);
  nlohmann::json h = Health(c);
  EXPECT_EQ(h.value("lost", -1), 0) << h.dump();
  ASSERT_EQ(diff_records(before, Scan(c), "before", "after two deaths"), "");
  CliResult b = c.cli({"backup", "--json"});
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_EQ(Json(b).value("records", 0u), 3000u) << b.out;
}

// A replica that keeps failing writes is fenced and replaced, instead of
// staying up with stale data that a later failover would bring back.
TEST(MembershipTest, AReplicaThatFailsWritesIsFencedAndReplaced) {
  TestCluster c("mbf");
  Up(c, {"--nodes", "3", "--replicas", "2"}, {"CACHEVAULT_FAILPOINTS=node.replica.apply@node1=error*"});
  ASSERT_EQ(c.cli({"load", "--records", "300", "--key-prefix", "f-"}).rc, 0);
  // Writes go on until node1 is fenced; afterwards they succeed everywhere.
  for (int i = 0; i < 40; ++i) c.cli({"put", "f-key-" + std::to_string(i), "new-" + std::to_string(i)});
  ASSERT_TRUE(c.wait_state("serving", 1, "fenced")) << c.status().dump();
  ASSERT_TRUE(c.wait_healthy()) << c.status().dump();
  for (int i = 0; i < 40; ++i)
    ASSERT_EQ(c.cli({"put", "f-key-" + std::to_string(i), "newest-" + std::to_string(i)}).rc, 0);
  // Neither remaining node may bring an old value back when the other dies.
  Kill(c, 0);
  for (int i = 0; i < 40; i += 3) {
    CliResult g = c.cli({"get", "f-key-" + std::to_string(i)});
    ASSERT_EQ(g.rc, 0) << g.err;
    EXPECT_EQ(g.out.substr(0, g.out.find('\n')), "newest-" + std::to_string(i));
  }
  nlohmann::json s = c.status();
  for (const auto& n : s["nodes"])
    if (n["role"] == "serving" && n["id"] == 1) EXPECT_EQ(n["partitions"], 0) << "a fenced node serves nothing";
}

// A partition whose every replica is gone is lost: its keys fail saying so,
// status lists it, a backup refuses to call itself complete, and a partial
// backup records what it lacks.
TEST(MembershipTest, LostPartitionsAreReportedEverywhere) {
  TestCluster c("mbl");
  Up(c, {"--nodes", "3", "--replicas", "1"});
  ASSERT_EQ(c.cli({"load", "--records", "3000"}).rc, 0);
  Kill(c, 0);
  nlohmann::json s = c.status();
  const auto lost = s["lost_partitions"];
  ASSERT_FALSE(lost.empty()) << s.dump();
  EXPECT_EQ(s["partition_health"]["lost"], lost.size());
  EXPECT_EQ(s["partition_health"]["healthy"].get<size_t>() + s["partition_health"]["under_replicated"].get<size_t>() +
                lost.size(),
            s["partitions"].get<size_t>());

  // Some key of a lost partition: get and put fail naming it.
  size_t failed_gets = 0;
  for (int i = 0; i < 40; ++i) {
    CliResult g = c.cli({"get", synthetic_key("key-", uint64_t(i))});
    if (g.rc == 0) continue;
    ++failed_gets;
    EXPECT_EQ(g.rc, 1);
    EXPECT_NE(g.err.find("lost"), std::string::npos) << g.err;
    CliResult p = c.cli({"put", synthetic_key("key-", uint64_t(i)), "v"});
    EXPECT_EQ(p.rc, 1);
    EXPECT_NE(p.err.find("lost"), std::string::npos) << p.err;
  }
  EXPECT_GT(failed_gets, 0u) << "no key of 40 sat in a lost partition";

  CliResult b = c.cli({"backup", "--json"});
  EXPECT_EQ(b.rc, 1) << "a backup with lost partitions reported success: " << b.out;
  EXPECT_NE(b.err.find("lost"), std::string::npos) << b.err;
  CliResult pb = c.cli({"backup", "--allow-partial", "--json"});
  ASSERT_EQ(pb.rc, 0) << pb.err;
  const std::string file = Json(pb)["file"].get<std::string>();
  CliResult in = run_cli({"inspect", file, "--json"});
  ASSERT_EQ(in.rc, 0) << in.err;
  EXPECT_EQ(Json(in)["missing_partitions"], lost) << in.out;
  EXPECT_EQ(run_cli({"verify", file}).rc, 0);
  EXPECT_EQ(Json(in).value("records", 0u), Json(pb).value("records", 1u));

  // Accepting the loss makes the partitions serve again, empty.
  CliResult a = c.cli({"rebalance", "--accept-loss", "--json"});
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_TRUE(c.status()["lost_partitions"].empty());
  EXPECT_EQ(c.cli({"put", "after-loss", "v"}).rc, 0);
}

// ---- Membership commands. ----

TEST(MembershipTest, NodesStartJoinAndLeaveWhileTheDataStaysWhole) {
  TestCluster c("mbm");
  Up(c, {"--nodes", "3", "--replicas", "2"});
  ASSERT_EQ(c.cli({"load", "--records", "5000"}).rc, 0);
  RecordMap before = Scan(c);

  // Refusals name the reason and change nothing.
  CliResult bad = c.cli({"node", "start", "9"});
  EXPECT_EQ(bad.rc, 2) << bad.err;
  EXPECT_NE(bad.err.find("9"), std::string::npos) << bad.err;
  CliResult running = c.cli({"node", "start", "1"});
  EXPECT_EQ(running.rc, 1);
  EXPECT_NE(running.err.find("already"), std::string::npos) << running.err;

  Kill(c, 1);
  ASSERT_TRUE(c.wait_healthy());
  CliResult st = c.cli({"node", "start", "1", "--json"});
  ASSERT_EQ(st.rc, 0) << st.err;
  nlohmann::json sj = Json(st);
  EXPECT_EQ(sj["id"], 1);
  EXPECT_GT(sj["pid"].get<int>(), 0);
  EXPECT_GT(sj["partitions"].get<int>(), 0) << st.out;
  EXPECT_GT(sj["records_received"].get<uint64_t>(), 0u) << st.out;
  EXPECT_EQ(c.state_of("serving", 1), "up");

  CliResult add = c.cli({"node", "add", "--json"});
  ASSERT_EQ(add.rc, 0) << add.err;
  EXPECT_EQ(Json(add)["id"], 3);
  auto held = PartitionsHeld(c);
  ASSERT_EQ(held.size(), 4u);
  for (auto [id, n] : held) EXPECT_NEAR(n, 128, 16) << "node" << id << " holds " << n << " of 512 replicas";

  CliResult rm = c.cli({"node", "remove", "0", "--json"});
  ASSERT_EQ(rm.rc, 0) << rm.err;
  EXPECT_EQ(c.state_of("serving", 0), "down");
  ASSERT_TRUE(c.wait_healthy());
  EXPECT_EQ(diff_records(before, Scan(c), "before", "after start, add, remove"), "");
  ExpectReadable(c, before, 100);
  EXPECT_EQ(c.serving_records(), 10000u) << "R=2 copies, old holders dropped theirs";

  // Two nodes left would be fewer than... three: removing one of three with
  // R=2 is fine, of two it is refused.
  ASSERT_EQ(c.cli({"node", "remove", "3"}).rc, 0);
  CliResult refused = c.cli({"node", "remove", "2"});
  EXPECT_EQ(refused.rc, 1);
  EXPECT_NE(refused.err.find("copies"), std::string::npos) << refused.err;
  EXPECT_EQ(diff_records(before, Scan(c), "before", "after a refused remove"), "");
}

// `rebalance --by measured` gives a node that measured slow a smaller share.
TEST(MembershipTest, RebalanceByMeasuredSpeedShrinksASlowNodesShare) {
  TestCluster c("mbw");
  Up(c, {"--nodes", "3", "--replicas", "2"}, {"CACHEVAULT_FAILPOINTS=node.replica.apply@node2=delay(20)*"});
  ASSERT_EQ(c.cli({"load", "--records", "4000"}).rc, 0);
  RecordMap before = Scan(c);
  CliResult r = c.cli({"rebalance", "--by", "measured", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  nlohmann::json j = Json(r);
  EXPECT_GT(j.value("moved_partitions", 0), 0) << r.out;
  auto held = PartitionsHeld(c);
  EXPECT_LT(held[2], held[0]) << c.status().dump();
  EXPECT_LT(held[2], held[1]) << c.status().dump();
  ASSERT_TRUE(c.wait_healthy());
  EXPECT_EQ(diff_records(before, Scan(c), "before", "after rebalance"), "");
  // By weights again: back to the configured (equal) shares.
  ASSERT_EQ(c.cli({"rebalance"}).rc, 0);
}

// ---- A kill at each step of a move. ----

struct MoveKill {
  const char* name;
  const char* failpoints;
  int nodes, replicas;
  const char* trigger;  // "kill3": kill node3; "add": node add
};

void PrintTo(const MoveKill& k, std::ostream* os) { *os << k.failpoints; }

class MoveKillTest : public ::testing::TestWithParam<MoveKill> {};

TEST_P(MoveKillTest, LosesNothingAndHealsAfterNodeStart) {
  const MoveKill& k = GetParam();
  TestCluster c("mbk");
  Up(c, {"--nodes", std::to_string(k.nodes), "--replicas", std::to_string(k.replicas)},
     {std::string("CACHEVAULT_FAILPOINTS=") + k.failpoints});
  ASSERT_EQ(c.cli({"load", "--records", "4000"}).rc, 0);
  RecordMap before = Scan(c);
  if (std::string(k.trigger) == "kill3") {
    Kill(c, 3);
  } else {
    c.cli({"node", "add"});  // may fail where the failpoint stops its moves
  }
  // Whatever died, the cluster settles; every record is still there.
  wait_until([&] { return Health(c).value("moving", -1) == 0; }, 15000);
  EXPECT_EQ(Health(c).value("lost", -1), 0) << c.status().dump();
  EXPECT_EQ(diff_records(before, Scan(c), "before", "after the failed move"), "");
  // Bring every node back; the cluster ends healthy.
  const nlohmann::json now = c.status();
  for (const auto& n : now["nodes"])
    if (n["role"] == "serving" && n["state"] != "up") {
      CliResult s = c.cli({"node", "start", std::to_string(n["id"].get<int>())});
      EXPECT_EQ(s.rc, 0) << s.err;
    }
  ASSERT_TRUE(c.wait_healthy()) << c.status().dump();
  EXPECT_EQ(diff_records(before, Scan(c), "before", "after healing"), "");
}

INSTANTIATE_TEST_SUITE_P(
    Steps, MoveKillTest,
    ::testing::Values(MoveKill{"copy_start", "move.copy.start@node1=crash", 4, 3, "kill3"},
                      MoveKill{"copy_end", "move.copy.end@node1=crash", 4, 3, "kill3"},
                      MoveKill{"receive", "move.receive@node1=crash", 4, 3, "kill3"},
                      MoveKill{"drop", "move.drop@node0=crash", 3, 2, "add"},
                      MoveKill{"launcher_join", "move.join@launcher=error", 4, 3, "kill3"},
                      MoveKill{"launcher_switch", "move.table.switch@launcher=error", 4, 3, "kill3"}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- The set checker: acknowledged writes survive every membership change. ----

// Writers log every acknowledged write while serving nodes are killed,
// started again, added and removed over several rounds. Afterwards every
// acknowledged write is readable at its version or a newer one, and every
// partition has R copies.
TEST(MembershipTest, AcknowledgedWritesSurviveKillsStartsAddsAndRemoves) {
  TestCluster c("mbj");
  Up(c, {"--nodes", "4", "--replicas", "2"});
  ASSERT_EQ(c.cli({"load", "--records", "2000"}).rc, 0);
  const std::string log1 = c.tmp() / "acks1.log", log2 = c.tmp() / "acks2.log";
  int w1 = spawn_cli(c.args({"load", "--records", "2000", "--duration", "30", "--ack-log", log1, "--window", "2"}));
  int w2 = spawn_cli(c.args({"load", "--records", "500", "--key-prefix", "hot-", "--duration", "30", "--ack-log",
                             log2, "--window", "1"}));
  std::mt19937 rng(20261201);
  auto live = [&] {
    std::vector<int> ids;
    const nlohmann::json s = c.status();
    for (const auto& n : s["nodes"])
      if (n["role"] == "serving" && n["state"] == "up") ids.push_back(n["id"].get<int>());
    return ids;
  };
  for (int round = 0; round < 3; ++round) {
    auto ids = live();
    ASSERT_GE(ids.size(), 3u);
    const int victim = ids[rng() % ids.size()];
    Kill(c, victim);
    ASSERT_TRUE(c.wait_healthy()) << "round " << round << ": " << c.status().dump();
    CliResult s = c.cli({"node", "start", std::to_string(victim)});
    ASSERT_EQ(s.rc, 0) << s.err;
    if (round == 0) ASSERT_EQ(c.cli({"node", "add"}).rc, 0);
    ids = live();
    const int leaver = ids[rng() % ids.size()];
    if (ids.size() > 4) {
      CliResult r = c.cli({"node", "remove", std::to_string(leaver)});
      ASSERT_EQ(r.rc, 0) << r.err;
    }
  }
  kill(w1, SIGTERM);
  kill(w2, SIGTERM);
  wait_cli(w1);
  wait_cli(w2);
  ASSERT_TRUE(c.wait_healthy()) << c.status().dump();

  // The newest acknowledged version of every key.
  std::map<std::string, uint64_t> acked;
  for (const auto& path : {log1, log2}) {
    std::istringstream in(read_text(path));
    std::string line;
    while (std::getline(in, line)) {
      const auto tab = line.find('\t');
      if (tab == std::string::npos) continue;
      uint64_t v = std::stoull(line.substr(tab + 1));
      uint64_t& have = acked[line.substr(0, tab)];
      have = std::max(have, v);
    }
  }
  ASSERT_GT(acked.size(), 100u);
  RecordMap now = Scan(c);
  size_t lost = 0;
  for (const auto& [k, v] : acked) {
    auto it = now.find(k);
    if (it == now.end() || it->second["version"].get<uint64_t>() < v) {
      if (++lost <= 5) ADD_FAILURE() << k << " acknowledged at version " << v << ", now "
                                     << (it == now.end() ? "absent" : it->second.dump());
    }
  }
  EXPECT_EQ(lost, 0u) << "of " << acked.size() << " acknowledged keys";
}

}  // namespace
}  // namespace cv::test
