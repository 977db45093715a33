// Specification of failpoints: the CACHEVAULT_FAILPOINTS grammar, @proc
// filtering, once versus '*', and what each action does to the process.
#include "shm/failpoints.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace cv {
namespace {

using Clock = std::chrono::steady_clock;

class FailpointsTest : public testing::Test {
 protected:
  void TearDown() override {
    unsetenv("CACHEVAULT_FAILPOINTS");
    ASSERT_TRUE(init_failpoints("node0", "").is_ok());
  }

  void Arm(const std::string& process, const std::string& spec) {
    Status s = init_failpoints(process, spec);
    ASSERT_TRUE(s.is_ok()) << spec << ": " << s.message();
  }
  // The spec is refused with a message containing every needle.
  void ExpectRejected(const std::string& spec, std::vector<std::string> needles) {
    Status s = init_failpoints("node0", spec);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << spec;
    for (const auto& n : needles) EXPECT_NE(s.message().find(n), std::string::npos) << s.message();
  }
  // Milliseconds one check of `name` takes.
  static double TimeCheck(std::string_view name) {
    auto start = Clock::now();
    EXPECT_FALSE(failpoint(name));
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  }
  // Runs `name` in a forked child armed with `spec`; the child exits 0 if the
  // failpoint returns. Returns the child's pid.
  static pid_t Fork(const std::string& spec, std::string_view name) {
    pid_t pid = fork();
    if (pid == 0) {
      if (!init_failpoints("node0", spec).is_ok()) _exit(2);
      failpoint(name);
      _exit(0);
    }
    return pid;
  }
};

TEST_F(FailpointsTest, NothingArmedMeansEveryStepProceeds) {
  unsetenv("CACHEVAULT_FAILPOINTS");
  ASSERT_TRUE(init_failpoints("node0").is_ok());
  for (const auto& f : known_failpoints()) EXPECT_FALSE(failpoint(f.name)) << f.name;
}

TEST_F(FailpointsTest, TheSpecComesFromTheEnvironment) {
  setenv("CACHEVAULT_FAILPOINTS", "send.start=error", 1);
  ASSERT_TRUE(init_failpoints("node0").is_ok());
  EXPECT_TRUE(failpoint(kFpSendStart));
  setenv("CACHEVAULT_FAILPOINTS", "send.start=explode", 1);
  EXPECT_EQ(init_failpoints("node0").code(), Code::kInvalidArgument);
}

TEST_F(FailpointsTest, ErrorFailsTheStepOnceThenProceeds) {
  Arm("node0", "send.start=error");
  EXPECT_TRUE(failpoint(kFpSendStart));
  EXPECT_FALSE(failpoint(kFpSendStart));
  EXPECT_FALSE(failpoint(kFpSendEnd));  // other steps are untouched
}

TEST_F(FailpointsTest, StarredErrorFailsEveryTime) {
  Arm("node0", "send.start=error*");
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(failpoint(kFpSendStart));
}

TEST_F(FailpointsTest, ReArmingResetsTheOnceFlag) {
  Arm("node0", "send.start=error");
  EXPECT_TRUE(failpoint(kFpSendStart));
  Arm("node0", "send.start=error");
  EXPECT_TRUE(failpoint(kFpSendStart));
}

TEST_F(FailpointsTest, AtProcActsOnlyInThatProcess) {
  Arm("node0", "node.reply@node1=error*");
  EXPECT_FALSE(failpoint(kFpNodeReply));
  Arm("node1", "node.reply@node1=error*");
  EXPECT_TRUE(failpoint(kFpNodeReply));
  Arm("target12", "consolidate.rename@target12=error");
  EXPECT_TRUE(failpoint(kFpConsolidateRename));
}

TEST_F(FailpointsTest, AnEntryNamingTheProcessBeatsAGeneralOne) {
  Arm("client", "restore.client.send@client=error*, restore.client.send=delay(0)*");
  EXPECT_TRUE(failpoint(kFpRestoreClientSend));
  Arm("launcher", "restore.client.send@client=error*, restore.client.send=delay(0)*");
  EXPECT_FALSE(failpoint(kFpRestoreClientSend));
}

TEST_F(FailpointsTest, SeveralEntriesArmSeveralSteps) {
  Arm("node0", " send.start=error ,send.end=error*,,snapshot.end@node0=error,");
  EXPECT_TRUE(failpoint(kFpSendStart));
  EXPECT_TRUE(failpoint(kFpSendEnd));
  EXPECT_TRUE(failpoint(kFpSnapshotEnd));
  EXPECT_FALSE(failpoint(kFpSnapshotStart));
}

TEST_F(FailpointsTest, DelayPausesOnceThenTheStepProceeds) {
  Arm("node0", "node.forward=delay(120)");
  EXPECT_GE(TimeCheck(kFpNodeForward), 120.0);
  EXPECT_LT(TimeCheck(kFpNodeForward), 100.0);  // once only
}

TEST_F(FailpointsTest, StarredDelayPausesEveryTime) {
  Arm("node0", "node.forward=delay(30)*");
  for (int i = 0; i < 3; ++i) EXPECT_GE(TimeCheck(kFpNodeForward), 30.0);
}

TEST_F(FailpointsTest, OnceHoldsAcrossThreads) {
  Arm("node0", "node.replica.apply=error");
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) failed += failpoint(kFpNodeReplicaApply) ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 1);
}

TEST_F(FailpointsTest, BadSpecsAreRejectedNamingTheEntry) {
  ExpectRejected("no.such.step=crash", {"'no.such.step=crash'", "unknown failpoint 'no.such.step'",
                                        "cachevault failpoints"});
  ExpectRejected("send.start", {"'send.start'", "name[@proc]=action"});
  ExpectRejected("send.start=explode", {"unknown action 'explode'"});
  ExpectRejected("send.start=", {"unknown action ''"});
  ExpectRejected("send.start=*", {"unknown action ''"});
  ExpectRejected("=crash", {"unknown failpoint ''"});
  ExpectRejected("send.start=delay(abc)", {"delay(abc)", "milliseconds"});
  ExpectRejected("send.start=delay(-5)", {"milliseconds"});
  ExpectRejected("send.start=delay()", {"milliseconds"});
  ExpectRejected("send.start=delay(10", {"unknown action"});
  ExpectRejected("send.start=delay(99999999999)", {"milliseconds"});
  ExpectRejected("send.start@=crash", {"'' is not a process"});
  ExpectRejected("send.start@nodeX=crash", {"'nodeX' is not a process"});
  ExpectRejected("send.start@server=crash", {"'server' is not a process"});
  ExpectRejected("send.start=error,send.end=oops", {"'send.end=oops'"});
}

TEST_F(FailpointsTest, ARejectedSpecChangesNothing) {
  Arm("node0", "send.start=error*");
  ExpectRejected("send.start=bogus", {"bogus"});
  EXPECT_TRUE(failpoint(kFpSendStart));
}

TEST_F(FailpointsTest, EveryNamedStepIsListedOnceWithADescription) {
  const std::set<std::string_view> named = {kFpScheduleCreated,     kFpScheduleEnable,
                                            kFpSnapshotStart,       kFpSnapshotEnd,
                                            kFpSendStart,           kFpSendEnd,
                                            kFpTargetReceive,       kFpConsolidateStart,
                                            kFpConsolidateEnd,      kFpConsolidateRename,
                                            kFpScheduleLock,        kFpBackupClientPoll,
                                            kFpNodeReplicaApply,    kFpNodeForward,
                                            kFpNodeReply,           kFpNodeHeartbeat,
                                            kFpRestoreEntryForward, kFpRestoreReplicaApply,
                                            kFpRestoreStatusReturn, kFpRestoreClientCheckpoint,
                                            kFpRestoreClientSend,   kFpLauncherSpawn,
                                            kFpMoveJoin,            kFpMoveCopyStart,
                                            kFpMoveCopyEnd,         kFpMoveReceive,
                                            kFpMoveTableSwitch,     kFpMoveDrop,
                                            kFpTablePublish};
  std::set<std::string_view> listed;
  for (const auto& f : known_failpoints()) {
    EXPECT_TRUE(listed.insert(f.name).second) << f.name << " listed twice";
    EXPECT_GT(std::string_view(f.description).size(), 10u) << f.name;
  }
  EXPECT_EQ(listed, named);
}

TEST_F(FailpointsTest, CrashExitsTheProcessAtOnceWithItsOwnCode) {
  int status = 0;
  ASSERT_GT(waitpid(Fork("snapshot.start=crash", kFpSnapshotStart), &status, 0), 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kFailpointCrashExitCode);
  // Aimed at another process, the step proceeds.
  ASSERT_GT(waitpid(Fork("snapshot.start@node3=crash", kFpSnapshotStart), &status, 0), 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(FailpointsTest, HangKeepsTheProcessAliveUntilKilled) {
  pid_t child = Fork("consolidate.start=hang", kFpConsolidateStart);
  ASSERT_GT(child, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int status = 0;
  EXPECT_EQ(waitpid(child, &status, WNOHANG), 0) << "the child returned from a hang";
  ASSERT_EQ(kill(child, SIGKILL), 0);
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
}

}  // namespace
}  // namespace cv
