// A reply reaches the request it answers and nobody else: a client killed
// with a request in flight leaves its slot to the next client, and the late
// answer to the dead client must not acknowledge the new client's write.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "tests/support/cli_runner.h"

namespace cv::test {
namespace {

class ReplyRoutingTest : public ::testing::Test {
 protected:
  // One node, so both clients talk to it; it holds the answer to the first
  // client's write back for 3 s (the launcher's watchdog allows 5 s), and its
  // memory cap refuses the second client's large value as "full".
  void Up() {
    CliResult r = cluster_.up({"--nodes", "1", "--replicas", "1", "--targets", "1", "--node-memory", "16384"},
                              {"CACHEVAULT_FAILPOINTS=node.reply@node0=delay(3000)"});
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  bool NodeHoldsReplyBack() { return cluster_.log("node0").find("failpoint node.reply: delay") != std::string::npos; }

  TestCluster cluster_{"rr"};
};

TEST_F(ReplyRoutingTest, ReplyToAKilledClientDoesNotAcknowledgeTheNextClientInItsSlot) {
  Up();
  const int a = spawn_cli(cluster_.args({"put", "first-client-key", "small"}));
  ASSERT_TRUE(wait_until([&] { return NodeHoldsReplyBack(); }, 20000)) << "node0 never reached the reply step";
  kill(a, SIGKILL);
  wait_cli(a);

  // The second client takes the dead client's slot; its write cannot be
  // stored (over the node's memory), so it must not exit 0.
  CliResult b = cluster_.cli({"put", "second-client-key", std::string(20000, 'v')});
  CliResult g = cluster_.cli({"get", "second-client-key"});
  if (b.rc == 0) EXPECT_EQ(g.rc, 0) << "put exited 0 but the key is absent";
  EXPECT_EQ(b.rc, 1) << b.out << b.err;
  EXPECT_NE(b.err.find("full"), std::string::npos) << b.err;
  EXPECT_EQ(g.rc, 1);
  // The first client's write itself was stored before its answer was held.
  CliResult first = cluster_.cli({"get", "first-client-key"});
  EXPECT_EQ(first.rc, 0) << first.err;
  EXPECT_EQ(first.out, "small");
}

}  // namespace
}  // namespace cv::test
