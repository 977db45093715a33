// The block lock survives the death of its holder: a process killed with
// SIGKILL while holding it does not hang the others.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "shm/robust_mutex.h"

namespace cv::shm {
namespace {

class RobustLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_ = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem_, MAP_FAILED);
    mutex_ = new (mem_) RobustMutex;
    mutex_->init();
  }
  void TearDown() override { munmap(mem_, 4096); }

  // Forks a child that takes the lock and then sleeps until killed.
  pid_t ChildHoldingLock() {
    int ready[2];
    EXPECT_EQ(pipe(ready), 0);
    pid_t pid = fork();
    if (pid == 0) {
      LockGuard g(*mutex_, 1000);
      char c = g.locked() ? 'y' : 'n';
      ssize_t ignored = write(ready[1], &c, 1);
      (void)ignored;
      for (;;) pause();
    }
    char c = 0;
    EXPECT_EQ(read(ready[0], &c, 1), 1);
    EXPECT_EQ(c, 'y');
    close(ready[0]);
    close(ready[1]);
    return pid;
  }

  void* mem_ = nullptr;
  RobustMutex* mutex_ = nullptr;
};

TEST_F(RobustLockTest, LocksAndUnlocks) {
  {
    LockGuard g(*mutex_, 100);
    EXPECT_EQ(g.result(), LockResult::kLocked);
  }
  LockGuard again(*mutex_, 100);
  EXPECT_TRUE(again.locked());
}

TEST_F(RobustLockTest, BackgroundThreadHoldsTheLockAtNormalPriority) {
  // An idle-priority holder would keep request loops waiting for as long as
  // it waits for a core: while it holds the lock it runs as they do.
  int during = -1, after = -1, plain = -1;
  std::thread t([&] {
    ASSERT_TRUE(run_as_background());
    {
      LockGuard g(*mutex_, 100);
      ASSERT_TRUE(g.locked());
      during = sched_getscheduler(0);
    }
    after = sched_getscheduler(0);
  });
  t.join();
  {
    LockGuard g(*mutex_, 100);
    plain = sched_getscheduler(0);
  }
  EXPECT_EQ(during, SCHED_OTHER);
  EXPECT_EQ(after, SCHED_IDLE);
  EXPECT_EQ(plain, SCHED_OTHER);
}

TEST_F(RobustLockTest, HolderKilledWithSigkillIsRecoveredWithinASecond) {
  pid_t holder = ChildHoldingLock();
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  auto t0 = std::chrono::steady_clock::now();
  LockGuard g(*mutex_, 1000);
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(g.result(), LockResult::kOwnerDied);
  EXPECT_LT(waited, std::chrono::seconds(1));
}

TEST_F(RobustLockTest, MutexStaysUsableAfterRecovery) {
  pid_t holder = ChildHoldingLock();
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  { LockGuard g(*mutex_, 1000); EXPECT_TRUE(g.owner_died()); }
  LockGuard g(*mutex_, 1000);
  EXPECT_EQ(g.result(), LockResult::kLocked);
}

TEST_F(RobustLockTest, LiveHolderMakesOthersTimeOutInsteadOfHanging) {
  pid_t holder = ChildHoldingLock();
  {
    LockGuard g(*mutex_, 100);
    EXPECT_EQ(g.result(), LockResult::kTimedOut);
    EXPECT_FALSE(g.locked());
  }
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
}

}  // namespace
}  // namespace cv::shm
