// Liveness: a node's heartbeat says it makes progress, so a slow client
// cannot get a healthy node killed; every wait has a deadline (a node whose
// backup thread is stuck still stops by itself; a child that does not die
// of SIGKILL is not waited for without end).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "launcher/process_control.h"
#include "shm/block.h"
#include "shm/client_slot.h"
#include "shm/mailbox.h"
#include "shm/messages.h"
#include "tests/support/cli_runner.h"
#include "tests/support/raw_block.h"

namespace cv::test {
namespace {

// A client that asks for a 1 MiB value again and again and never reads its
// mailbox: after 7 replies its ring is full. Before, each further reply
// held the node's request loop for 2 s with no heartbeat, and the launcher
// killed the node after 5 s.
TEST(Liveness, SlowClientDoesNotGetAHealthyNodeKilled) {
  TestCluster c("live");
  ASSERT_EQ(c.up({"--nodes", "1", "--replicas", "1", "--targets", "1"}).rc, 0);
  const std::string value_file = c.tmp() / "big";
  { std::ofstream(value_file) << std::string(1000 * 1000, 'v'); }
  ASSERT_EQ(c.cli({"put", "big", "--value-file", value_file}).rc, 0);
  const int node0 = c.pid_of("serving", 0);
  ASSERT_GT(node0, 0);

  std::unique_ptr<shm::Block> block;
  ASSERT_TRUE(shm::Block::attach(c.name(), &block));
  std::unique_ptr<shm::ClientSlotLease> lease;
  ASSERT_TRUE(shm::ClientSlotLease::claim(*block, &lease));
  shm::BatchBuilder get;
  get.add(shm::WireRecord{3, 0, 0, 0, 0, 0, 0, 0, 0}, "big", {});
  const std::string payload(get.finish());
  std::string frames;
  constexpr int kRequests = 16;
  for (int i = 0; i < kRequests; ++i) {
    shm::MsgHeader h{uint32_t((sizeof(shm::MsgHeader) + payload.size() + 7) & ~size_t(7)),
                     uint16_t(shm::MsgType::kGet), uint16_t(lease->mailbox_index()), lease->generation(),
                     uint32_t(payload.size()), uint64_t(i + 1)};
    frames.append(reinterpret_cast<const char*>(&h), sizeof h);
    frames += payload;
    frames.resize((frames.size() + 7) & ~size_t(7), '\0');
  }
  RawBlock raw(c.name());
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(raw.publish_raw(0, frames));  // all in one drain
  shm::MailboxHeader& inbox = raw.layout().mailboxes[0];
  // Polls until the node got through the requests (or was killed trying).
  EXPECT_TRUE(wait_until([&] { return inbox.head.load() == inbox.tail.load(); }, 60000));
  EXPECT_EQ(c.pid_of("serving", 0), node0) << "the node was killed for a slow client";
  EXPECT_EQ(c.state_of("serving", 0), "up");
  EXPECT_NE(c.log("node0").find("dropped"), std::string::npos) << "replies that found no room are logged";
  lease.reset();
  CliResult g = c.cli({"get", "big"}, {}, 60);
  EXPECT_EQ(g.rc, 0) << g.err;
  EXPECT_EQ(g.out.size(), 1000u * 1000u);  // get prints the value byte for byte
}

// A node whose backup thread is stuck (a hang in its send) still stops by
// itself on `cluster down`, within its bound, instead of waiting for the
// thread until the launcher kills it.
TEST(Liveness, NodeWithAStuckBackupThreadStillStopsByItself) {
  TestCluster c("live");
  ASSERT_EQ(c.up({"--nodes", "2", "--replicas", "2", "--targets", "1"},
                 {"CACHEVAULT_FAILPOINTS=send.start@node1=hang", "CACHEVAULT_TEST_WORKER_STOP_MS=300"})
                .rc,
            0);
  ASSERT_EQ(c.cli({"put", "k", "v"}).rc, 0);
  const int spawned = spawn_cli(c.args({"backup"}));
  // node1's thread reaches the hang: its entry stays in `snapshotting`.
  EXPECT_TRUE(wait_until([&] { return c.log("node1").find("hot backup of") != std::string::npos; }, 30000));
  usleep(200000);
  CliResult down = c.down();
  wait_cli(spawned, 30);
  EXPECT_EQ(down.rc, 0) << down.err;
  const std::string launcher_log = c.log("launcher");
  EXPECT_EQ(launcher_log.find("did not stop within"), std::string::npos) << launcher_log;
  EXPECT_NE(c.log("node1").find("backup thread did not finish"), std::string::npos);
}

// waitpid after SIGKILL is bounded: a child that is not reaped in time
// (here: one that was never killed, standing for one in state D) is
// reported, not waited for.
TEST(Liveness, ReapingAChildHasADeadline) {
  const pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  EXPECT_FALSE(launcher::reap_within(child, 200));
  kill(child, SIGKILL);
  EXPECT_TRUE(launcher::reap_within(child, 20000));
  EXPECT_TRUE(launcher::reap_within(child, 10)) << "an already reaped child is not waited for";
}

}  // namespace
}  // namespace cv::test
