// cluster up: lock, stale-block replacement, daemonising, forking children,
// readiness, supervision and teardown.
#include "launcher/launcher.h"

#include "launcher/move_controller.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "client/cli_output.h"
#include "launcher/process_control.h"
#include "node/distribution.h"
#include "shm/backup_leftovers.h"
#include "shm/block.h"
#include "shm/clock.h"
#include "shm/failpoints.h"
#include "shm/logging.h"
#include "shm/proc_state.h"
#include "shm/table_access.h"

namespace cv::launcher {

namespace {

constexpr uint64_t kReadyTimeoutMs = 20000;
// A serving node whose request loop has not stamped its heartbeat for
// shm::kNodeHeartbeatTimeoutMs is fenced off: killed, marked down, its
// partitions moved. A node that is alive but stuck would otherwise hold its
// partitions hostage. The same for a target (shm::kTargetHeartbeatTimeoutMs),
// whose loop also stamps as a consolidation makes progress: a target that is
// alive but stuck would hold the backup forever; once it is killed, the
// copies go to another target.
using shm::kKillReapTimeoutMs;
using shm::kNodeHeartbeatTimeoutMs;
using shm::kStopGraceMs;
using shm::kTargetHeartbeatTimeoutMs;
std::atomic<bool> g_stop{false};
void on_term(int) { g_stop.store(true); }

struct Child {
  int slot;
  std::string name;
  pid_t pid;
};

// Forks and execs this binary as one cluster process. The child asks for
// SIGTERM if the launcher dies, so no orphan outlives a killed launcher.
// With `failpoints`, the child gets that CACHEVAULT_FAILPOINTS instead of
// the launcher's (the environment is built before the fork: the launcher
// has threads by then, and the child must only exec).
pid_t spawn(const std::string& cluster, const char* role, int index, const std::string* failpoints = nullptr) {
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string idx = std::to_string(index);
  std::vector<std::string> env_text;
  for (char** e = environ; e && *e; ++e)
    if (!failpoints || std::strncmp(*e, "CACHEVAULT_FAILPOINTS=", 22) != 0) env_text.emplace_back(*e);
  if (failpoints && !failpoints->empty()) env_text.push_back("CACHEVAULT_FAILPOINTS=" + *failpoints);
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(1);
  // /proc/self/exe rather than its path: a process started later (node
  // start, node add) runs the launcher's own binary even if the file was
  // replaced since.
  const char* argv[] = {exe.c_str(), "__serve", "--cluster", cluster.c_str(), "--role", role, "--index", idx.c_str(),
                        nullptr};
  execve("/proc/self/exe", const_cast<char* const*>(argv), envp.data());
  _exit(127);
}

Status publish_initial_table(shm::BlockLayout& b) {
  node::DistributionInput in;
  in.partitions = int(b.config.partitions);
  in.replicas = int(b.config.replicas);
  for (uint32_t n = 0; n < b.config.serving_nodes; ++n) {
    in.weights.push_back(b.config.weights[n]);
    in.up.push_back(true);
  }
  node::DistributionTable table;
  if (Status s = node::compute_distribution(in, &table); !s) return s;
  shm::TableCopy t;
  t.replicas = b.config.replicas;
  t.partitions = b.config.partitions;
  t.owners.resize(table.size());
  for (size_t p = 0; p < table.size(); ++p) std::copy(table[p].begin(), table[p].end(), t.owners[p].begin());
  t.joining.assign(table.size(), shm::kNoNode);
  t.lost.assign(table.size(), 0);
  shm::BlockLock g(b);
  if (!g.locked()) return Status::timeout("block lock");
  shm::publish_table(b, t);
  return Status::ok();
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
  return "stopped";
}

void stop_children(shm::Block& block, std::vector<Child>& children) {
  shm::BlockLayout& b = block.layout();
  b.header.shutting_down.store(1);
  block.notify_change();
  for (auto& c : children)
    if (c.pid > 0) kill(c.pid, SIGTERM);
  Deadline d = Deadline::in_ms(kStopGraceMs);
  size_t alive = children.size();
  while (alive > 0 && !d.passed()) {
    alive = 0;
    for (auto& c : children) {
      if (c.pid <= 0) continue;
      int st = 0;
      if (waitpid(c.pid, &st, WNOHANG) == c.pid) {
        b.nodes[c.slot].state.store(uint32_t(shm::NodeState::kDown));
        c.pid = 0;
      } else {
        ++alive;
      }
    }
    if (alive) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& c : children) {
    if (c.pid <= 0) continue;
    spdlog::warn("{} did not stop within {} ms; killing it", c.name, kStopGraceMs);
    kill(c.pid, SIGKILL);
    if (reap_within(c.pid, kKillReapTimeoutMs)) {
      b.nodes[c.slot].state.store(uint32_t(shm::NodeState::kDown));
    } else {
      // Uninterruptible sleep (state D, e.g. a hung disk) delays SIGKILL
      // until the kernel lets go; waiting for it could take for ever.
      spdlog::error("{} (pid {}, state {}) did not exit within {} ms of SIGKILL; leaving it to the kernel", c.name,
                    c.pid, shm::process_state(c.pid) ? shm::process_state(c.pid) : '?', kKillReapTimeoutMs);
    }
    c.pid = 0;
  }
}

// Reaps children that died and marks them down (the membership controller
// then takes them out of the table); returns true if a serving node died.
bool reap(shm::Block& block, std::vector<Child>& children) {
  bool serving_died = false;
  int st = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    for (auto& c : children) {
      if (c.pid != pid) continue;
      shm::NodeSlot& slot = block.layout().nodes[c.slot];
      slot.exit_status.store(st);
      slot.state.store(uint32_t(shm::NodeState::kDown));
      // Its records died with it: status counts what live nodes hold.
      slot.records.store(0);
      slot.bytes.store(0);
      spdlog::error("{} (pid {}) {}; marked down", c.name, pid, describe_exit(st));
      serving_died |= c.slot < shm::kMaxServingNodes;
      c.pid = 0;
    }
  }
  block.notify_change();
  return serving_died;
}

void fence_silent_nodes(shm::Block& block, std::vector<Child>& children) {
  const uint64_t now = mono_ns();
  for (auto& c : children) {
    if (c.pid <= 0) continue;
    shm::NodeSlot& slot = block.layout().nodes[c.slot];
    const auto st = shm::NodeState(slot.state.load());
    if (c.slot < shm::kMaxServingNodes ? !shm::node_state_live(st) : st != shm::NodeState::kUp) continue;
    const uint64_t timeout_ms = c.slot < shm::kMaxServingNodes ? kNodeHeartbeatTimeoutMs : kTargetHeartbeatTimeoutMs;
    const uint64_t beat = slot.heartbeat_ns.load();
    if (beat == 0 || now < beat || now - beat < timeout_ms * 1'000'000ull) continue;
    // A target consolidates at idle priority: on a saturated machine it may
    // wait long for a core. Runnable is slow, not stuck.
    if (c.slot >= shm::kMaxServingNodes && shm::any_thread_runnable(c.pid)) continue;
    spdlog::error("{} (pid {}) has not stamped its heartbeat for {} ms; killing it", c.name, c.pid,
                  (now - beat) / 1'000'000);
    kill(c.pid, SIGKILL);
  }
}

Status make_data_dirs(const shm::ClusterConfig& config) {
  std::vector<std::string> subdirs{"logs", "backups"};
  for (uint32_t n = 0; n < config.serving_nodes; ++n) subdirs.push_back("node" + std::to_string(n));
  for (uint32_t t = 0; t < config.targets; ++t) subdirs.push_back("target" + std::to_string(t));
  return make_private_dirs(config.data_dir, subdirs);
}

// Sends a line to the `cluster up --detach` caller waiting on the pipe.
void tell_parent(int fd, const std::string& line) {
  if (fd < 0) return;
  std::string l = line + "\n";
  ssize_t ignored = write(fd, l.data(), l.size());
  (void)ignored;
  close(fd);
}

int supervise(const ClusterOptions& o, const shm::ClusterConfig& config, int ready_fd) {
  const std::string& name = o.name;
  if (Status s = make_data_dirs(config); !s) {
    tell_parent(ready_fd, "error: " + s.message());
    return 1;
  }
  if (Status s = init_process_logger("launcher", config.data_dir, ready_fd < 0); !s) {
    tell_parent(ready_fd, "error: " + s.message());
    return 1;
  }
  if (Status s = init_failpoints("launcher"); !s) {
    tell_parent(ready_fd, "error: " + s.message());
    return 2;
  }
  std::unique_ptr<shm::Block> block;
  if (Status s = shm::Block::create(name, config, getpid(), &block); !s) {
    tell_parent(ready_fd, "error: " + s.message());
    return 1;
  }
  shm::BlockLayout& b = block->layout();
  // Backup ids go on from those of earlier incarnations; what their
  // interrupted backups left behind goes.
  b.next_schedule_id.store(shm::first_unused_schedule_id(config.data_dir));
  if (size_t n = shm::remove_cluster_leftovers(config.data_dir, config.serving_nodes))
    spdlog::info("removed {} files left by interrupted backups", n);
  if (Status s = publish_initial_table(b); !s) {
    shm::Block::remove(name);
    tell_parent(ready_fd, "error: " + s.message());
    return 1;
  }
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);

  std::vector<Child> children;
  // The membership controller starts and stops serving nodes from its own
  // thread; the supervising loop reaps them. Both go through this lock.
  std::mutex children_mu;
  auto start = [&](int slot, const char* role, int index, shm::Role r) {
    b.nodes[slot].role.store(uint32_t(r));
    b.nodes[slot].state.store(uint32_t(shm::NodeState::kStarting));
    std::string cname = std::string(r == shm::Role::kServing ? "node" : "target") + std::to_string(index);
    if (failpoint(kFpLauncherSpawn)) return;
    pid_t pid = spawn(name, role, index);
    // With the start time, the pid names this process only: `cluster down`
    // of a stale block never kills a process that reused the pid.
    b.nodes[slot].start_ticks.store(shm::process_start_ticks(pid));
    b.nodes[slot].pid.store(pid);
    children.push_back({slot, cname, pid});
    spdlog::info("started {} as pid {}", cname, pid);
  };
  for (uint32_t n = 0; n < config.serving_nodes; ++n) start(int(n), "serving", int(n), shm::Role::kServing);
  for (uint32_t t = 0; t < config.targets; ++t)
    start(shm::kFirstTargetMailbox + int(t), "target", int(t), shm::Role::kTarget);

  // Readiness: every child reports up, or one dies, or the deadline passes.
  Deadline ready_by = Deadline::in_ms(kReadyTimeoutMs);
  std::string failure;
  for (;;) {
    const uint32_t seen = b.header.change_seq.load();
    size_t up = 0;
    for (auto& c : children) {
      auto st = shm::NodeState(b.nodes[c.slot].state.load());
      if (b.nodes[c.slot].ready.load() && st != shm::NodeState::kDown) ++up;
      if (st == shm::NodeState::kDown) failure = c.name + " died while starting (see " +
                                                 std::string(config.data_dir) + "/logs/" + c.name + ".log)";
    }
    if (children.size() != config.serving_nodes + config.targets) failure = "a process could not be started";
    if (!failure.empty() || up == children.size()) break;
    if (ready_by.passed() || g_stop.load()) {
      failure = "processes were not ready within " + std::to_string(kReadyTimeoutMs / 1000) + " s";
      break;
    }
    reap(*block, children);
    block->wait_change(seen, 20);
  }
  if (!failure.empty()) {
    spdlog::error("cluster '{}' failed to start: {}", name, failure);
    stop_children(*block, children);
    shm::Block::remove(name);
    tell_parent(ready_fd, "error: cluster '" + name + "' failed to start: " + failure);
    return 1;
  }
  spdlog::info("cluster '{}' up: {} serving nodes, {} targets, R={}, P={}", name, config.serving_nodes,
               config.targets, config.replicas, config.partitions);
  MembershipController controller(
      *block,
      [&](int id, const std::string& failpoints) {
        std::lock_guard lk(children_mu);
        const std::string cname = "node" + std::to_string(id);
        if (failpoint(kFpLauncherSpawn)) return -1;
        pid_t pid = spawn(name, "serving", id, &failpoints);
        if (pid <= 0) return -1;
        b.nodes[id].pid.store(pid);
        children.push_back({id, cname, pid});
        spdlog::info("started {} as pid {}", cname, pid);
        return int(pid);
      },
      [&](int id, bool hard) {
        std::lock_guard lk(children_mu);
        for (auto& c : children)
          if (c.slot == id && c.pid > 0) kill(c.pid, hard ? SIGKILL : SIGTERM);
      });
  if (Status s = controller.start(); !s) {
    spdlog::error("cluster '{}' failed to start: {}", name, s.message());
    stop_children(*block, children);
    shm::Block::remove(name);
    tell_parent(ready_fd, "error: cluster '" + name + "' failed to start: " + s.message());
    return 1;
  }
  tell_parent(ready_fd, "ok");
  if (ready_fd < 0)
    fprintf(stdout, "cluster '%s' up: %u serving nodes, %u targets (Ctrl-C stops it)\n", name.c_str(),
            config.serving_nodes, config.targets);
  fflush(stdout);

  while (!g_stop.load()) {
    {
      std::lock_guard lk(children_mu);
      reap(*block, children);
      fence_silent_nodes(*block, children);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  spdlog::info("cluster '{}' stopping", name);
  b.header.shutting_down.store(1);
  block->notify_change();
  controller.stop();
  stop_children(*block, children);
  shm::Block::remove(name);
  // Still holding the lock: the next launcher of this name creates a new file.
  unlink(shm::launcher_lock_path(name).c_str());
  spdlog::info("cluster '{}' stopped", name);
  return 0;
}

// Opens and exclusively locks the launcher lock file. Returns the fd, -2 if
// another launcher holds it, -1 on error. A launcher that stops unlinks the
// file; if that happened between our open and our lock, the fd names a file
// that is gone, so we try again with the new one.
int take_launcher_lock(const std::string& cluster, const std::string& path, Status* error) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    int fd = -1;
    if (Status s = shm::open_launcher_lock(cluster, true, &fd); !s) {
      *error = s;
      return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      close(fd);
      if (e == EWOULDBLOCK) return -2;
      *error = errno_status("flock", path, e);
      return -1;
    }
    struct stat held{}, named{};
    if (fstat(fd, &held) == 0 && lstat(path.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
        held.st_dev == named.st_dev)
      return fd;
    close(fd);
  }
  *error = Status::io_error("lock " + path + ": it keeps being replaced");
  return -1;
}

}  // namespace

int cluster_up(const ClusterOptions& o) {
  shm::ClusterConfig config;
  if (Status s = build_config(o, &config); !s) return client::report_error(client::kExitUsage, s.message());
  const std::string lock_path = shm::launcher_lock_path(o.name);
  Status lock_error;
  int lock_fd = take_launcher_lock(o.name, lock_path, &lock_error);
  if (lock_fd == -2)
    return client::report_error(client::kExitFailure,
                                "cluster '" + o.name + "' is already running (its launcher holds " + lock_path + ")");
  if (lock_fd < 0)
    return client::report_error(client::kExitFailure, "cannot lock cluster '" + o.name + "': " + lock_error.message());
  // We hold the lock, so any block of this name is left from a launcher that
  // died without cleaning up.
  {
    std::unique_ptr<shm::Block> stale;
    Status s = shm::Block::attach(o.name, &stale);
    if (!s && s.code() != Code::kNotFound) {
      // Not ours, or not private: not something to replace.
      close(lock_fd);
      return client::report_error(client::kExitFailure, s.message());
    }
    bool exists = s || std::filesystem::exists("/dev/shm/" + shm::segment_name(o.name));
    if (exists) {
      // Children of a killed launcher get SIGTERM from the kernel; make
      // sure none lingers holding the old block, killing only pids that
      // still name the processes recorded.
      kill_recorded_processes(o.name);
      shm::Block::remove(o.name);
      fprintf(stderr, "cachevault: replaced the stale block of cluster '%s' left by a launcher that died\n",
              o.name.c_str());
    }
  }
  if (!o.detach) return supervise(o, config, -1);

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return client::report_error(client::kExitFailure, std::string("pipe: ") + strerror(errno));
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return client::report_error(client::kExitFailure, std::string("fork: ") + strerror(errno));
  if (pid == 0) {
    close(pipefd[0]);
    setsid();
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (devnull > 2) close(devnull);
    _exit(supervise(o, config, pipefd[1]));
  }
  close(pipefd[1]);
  close(lock_fd);  // the daemon keeps its own reference to the lock
  std::string answer;
  char buf[512];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) answer.append(buf, size_t(n));
  close(pipefd[0]);
  if (answer.rfind("ok", 0) == 0) {
    if (o.json) return 0;  // the caller prints the status object
    printf("cluster '%s' up: %u serving nodes, %u targets, replicas %u, partitions %u, dir %s\n", o.name.c_str(),
           config.serving_nodes, config.targets, config.replicas, config.partitions, config.data_dir);
    return 0;
  }
  if (answer.rfind("error: ", 0) == 0) answer = answer.substr(7);
  while (!answer.empty() && answer.back() == '\n') answer.pop_back();
  return client::report_error(client::kExitFailure, answer.empty() ? "the launcher died while starting" : answer);
}

}  // namespace cv::launcher
