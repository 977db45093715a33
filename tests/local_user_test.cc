// Another local user: a block or lock file that is not ours or not private
// is refused, the lock file is never opened through a symlink, an existing
// --dir keeps its mode, and `cluster down` of a stale cluster kills only
// processes that are still the ones it recorded.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "shm/block.h"
#include "shm/proc_state.h"
#include "tests/support/cli_runner.h"
#include "tests/support/raw_block.h"

namespace cv::test {
namespace {

std::string segment_path(const TestCluster& c) { return "/dev/shm/" + shm::segment_name(c.name()); }
unsigned mode_of(const std::string& path) {
  struct stat st{};
  return lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

TEST(LocalUser, BlockOpenedToOthersIsRefusedNamingPathAndMode) {
  TestCluster c("lu");
  ASSERT_EQ(c.up({"--nodes", "1", "--targets", "1", "--replicas", "1"}).rc, 0);
  ASSERT_EQ(chmod(segment_path(c).c_str(), 0666), 0);
  CliResult st = c.cli({"status"});
  CliResult put = c.cli({"put", "k", "v"});
  CliResult down = c.cli({"cluster", "down"});
  ASSERT_EQ(chmod(segment_path(c).c_str(), 0600), 0);
  EXPECT_EQ(st.rc, 1) << st.err;
  EXPECT_NE(st.err.find(segment_path(c)), std::string::npos) << st.err;
  EXPECT_NE(st.err.find("0666"), std::string::npos) << st.err;
  EXPECT_NE(st.err.find("uid"), std::string::npos) << st.err;
  EXPECT_EQ(put.rc, 1) << put.err;
  EXPECT_NE(put.err.find("0666"), std::string::npos) << put.err;
  // Neither treated as stale nor removed: the cluster still runs.
  EXPECT_EQ(down.rc, 1) << down.err;
  EXPECT_EQ(c.cli({"status"}).rc, 0);
}

// Mode 0600 is not enough: a block another user made (here: handed to
// nobody, uid 65534, by root) is refused though its mode is private.
TEST(LocalUser, BlockOwnedByAnotherUserIsRefusedNamingTheOwner) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a file to another user";
  TestCluster c("lu");
  ASSERT_EQ(c.up({"--nodes", "1", "--targets", "1", "--replicas", "1"}).rc, 0);
  ASSERT_EQ(chown(segment_path(c).c_str(), 65534, 65534), 0);
  CliResult put = c.cli({"put", "k", "v"});
  ASSERT_EQ(chown(segment_path(c).c_str(), geteuid(), getegid()), 0);
  EXPECT_EQ(put.rc, 1) << put.err;
  EXPECT_NE(put.err.find(segment_path(c)), std::string::npos) << put.err;
  EXPECT_NE(put.err.find("65534"), std::string::npos) << put.err;
  EXPECT_EQ(c.cli({"put", "k", "v"}).rc, 0) << "ours again, it is used";
}

// Any local user can read /proc/PID/cmdline (ps). The password of
// --requirepass must not be there for the life of the launcher.
TEST(LocalUser, RequirepassIsNotVisibleInTheProcessList) {
  TestCluster c("lu");
  const std::string secret = "s3cret-" + std::to_string(getpid());
  ASSERT_EQ(c.up({"--nodes", "1", "--targets", "1", "--replicas", "1", "--requirepass", secret}).rc, 0);
  int launcher = 0;
  {
    RawBlock raw(c.name());
    ASSERT_TRUE(raw.ok());
    launcher = raw.layout().header.launcher_pid;
  }
  std::vector<int> pids{launcher, c.pid_of("serving", 0), c.pid_of("target", 0)};
  for (int pid : pids) {
    ASSERT_GT(pid, 0);
    const std::string cmdline = read_text("/proc/" + std::to_string(pid) + "/cmdline");
    EXPECT_FALSE(cmdline.empty()) << pid;
    EXPECT_EQ(cmdline.find(secret), std::string::npos) << "pid " << pid << ": " << cmdline;
  }
  EXPECT_EQ(c.log("launcher").find(secret), std::string::npos) << "the launcher's start line shows the password";
}

TEST(LocalUser, LockFileWithWideModeIsRefused) {
  TestCluster c("lu");
  const std::string lock = shm::launcher_lock_path(c.name());
  { std::ofstream(lock) << ""; }
  ASSERT_EQ(chmod(lock.c_str(), 0644), 0);
  CliResult up = c.up({"--nodes", "1", "--targets", "1", "--replicas", "1"});
  unlink(lock.c_str());
  EXPECT_EQ(up.rc, 1);
  EXPECT_NE(up.err.find(lock), std::string::npos) << up.err;
  EXPECT_NE(up.err.find("0644"), std::string::npos) << up.err;
}

TEST(LocalUser, LockFileIsNeverOpenedThroughASymlink) {
  TestCluster c("lu");
  TempDir victim_dir;
  const std::string victim = victim_dir / "victim";
  const std::string lock = shm::launcher_lock_path(c.name());
  ASSERT_EQ(symlink(victim.c_str(), lock.c_str()), 0);
  CliResult up = c.up({"--nodes", "1", "--targets", "1", "--replicas", "1"});
  const bool victim_made = std::filesystem::exists(victim);
  unlink(lock.c_str());
  EXPECT_EQ(up.rc, 1);
  EXPECT_NE(up.err.find("symbolic link"), std::string::npos) << up.err;
  EXPECT_FALSE(victim_made) << "cluster up created a file through the symlink";
  // Also not when the symlink points at an existing file of ours.
  { std::ofstream(victim) << "precious"; }
  ASSERT_EQ(symlink(victim.c_str(), lock.c_str()), 0);
  up = c.up({"--nodes", "1", "--targets", "1", "--replicas", "1"});
  unlink(lock.c_str());
  EXPECT_EQ(up.rc, 1);
  EXPECT_EQ(read_text(victim), "precious");
}

TEST(LocalUser, ExistingDirKeepsItsModeAndGetsPrivateSubdirectories) {
  TestCluster c("lu");
  ASSERT_TRUE(std::filesystem::create_directories(c.data_dir()));
  ASSERT_EQ(chmod(c.data_dir().c_str(), 01777), 0);  // as /tmp is
  ASSERT_EQ(c.up({"--nodes", "2", "--targets", "1", "--replicas", "1"}).rc, 0);
  EXPECT_EQ(mode_of(c.data_dir()), 01777u);
  for (const char* sub : {"logs", "node0", "node1", "target0", "backups"})
    EXPECT_EQ(mode_of(c.data_dir() + "/" + sub), 0700u) << sub;
  ASSERT_EQ(c.down().rc, 0);
  // A data dir it makes itself is private.
  TestCluster fresh("lu");
  ASSERT_EQ(fresh.up({"--nodes", "1", "--targets", "1", "--replicas", "1"}).rc, 0);
  EXPECT_EQ(mode_of(fresh.data_dir()), 0700u);
}

TEST(LocalUser, DownOfAStaleClusterKillsOnlyProcessesThatAreStillOurs) {
  TestCluster c("lu");
  ASSERT_EQ(c.up({"--nodes", "2", "--targets", "1", "--replicas", "1"}).rc, 0);
  const int node0 = c.pid_of("serving", 0), node1 = c.pid_of("serving", 1);
  ASSERT_GT(node0, 0);
  ASSERT_GT(node1, 0);
  int launcher = 0;
  {
    RawBlock raw(c.name());
    ASSERT_TRUE(raw.ok());
    launcher = raw.layout().header.launcher_pid;
  }
  // A stranger: stands for a process that reused a recorded pid.
  const pid_t stranger = fork();
  if (stranger == 0) {
    execlp("sleep", "sleep", "120", static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(stranger, 0);
  // The launcher dies without cleaning up; its children follow (SIGTERM).
  ASSERT_EQ(kill(launcher, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return !shm::pid_alive(launcher) && !shm::pid_alive(node0); }, 20000));
  {
    RawBlock raw(c.name());
    ASSERT_TRUE(raw.ok());
    // node1's slot now names the stranger (its pid reused), with node1's start time.
    raw.layout().nodes[1].pid.store(stranger);
  }
  CliResult down = c.down();
  const bool stranger_alive = shm::pid_alive(stranger);
  kill(stranger, SIGKILL);
  waitpid(stranger, nullptr, 0);
  EXPECT_EQ(down.rc, 0) << down.err;
  EXPECT_TRUE(stranger_alive) << "cluster down killed a process that only reused a recorded pid";
  EXPECT_FALSE(std::filesystem::exists(segment_path(c)));
  EXPECT_FALSE(std::filesystem::exists(shm::launcher_lock_path(c.name())));
}

TEST(LocalUser, ProcessStartTimeNamesOneProcess) {
  const uint64_t mine = shm::process_start_ticks(getpid());
  EXPECT_GT(mine, 0u);
  EXPECT_TRUE(shm::same_process(getpid(), mine));
  EXPECT_FALSE(shm::same_process(getpid(), mine + 1));
  EXPECT_FALSE(shm::same_process(getpid(), 0));
  EXPECT_EQ(shm::process_start_ticks(-1), 0u);
}

}  // namespace
}  // namespace cv::test
