// Identity-checked kills, bounded reaping and private directories.
#include "launcher/process_control.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <thread>

#include "shm/block.h"
#include "shm/clock.h"
#include "shm/proc_state.h"

namespace cv::launcher {

Status recorded_processes(const std::string& cluster, std::vector<RecordedProcess>* out) {
  out->clear();
  const std::string path = "/dev/shm/" + shm::segment_name(cluster);
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? Status::ok() : errno_status("open", path, errno);
  if (Status s = shm::check_private_file(fd, path); !s) {
    ::close(fd);
    return s;
  }
  struct stat st{};
  if (fstat(fd, &st) != 0 || uint64_t(st.st_size) < sizeof(shm::BlockLayout)) {
    ::close(fd);
    return Status::ok();  // never laid out: nothing recorded
  }
  void* map = mmap(nullptr, sizeof(shm::BlockLayout), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return errno_status("mmap", path, errno);
  const auto* b = static_cast<const shm::BlockLayout*>(map);
  if (b->header.magic == shm::kBlockMagic && b->header.version == shm::kBlockVersion) {
    for (int i = 0; i < shm::kMaxServingNodes + shm::kMaxTargets; ++i) {
      const int pid = b->nodes[i].pid.load();
      if (pid > 0) out->push_back({i, pid, b->nodes[i].start_ticks.load()});
    }
  }
  munmap(map, sizeof(shm::BlockLayout));
  return Status::ok();
}

int kill_recorded_processes(const std::string& cluster) {
  std::vector<RecordedProcess> procs;
  if (Status s = recorded_processes(cluster, &procs); !s) {
    spdlog::error("not killing the processes of cluster '{}': {}", cluster, s.message());
    return 0;
  }
  int killed = 0;
  for (const auto& p : procs) {
    if (!shm::pid_alive(p.pid)) continue;
    if (!shm::same_process(p.pid, p.start_ticks)) {
      spdlog::warn("cluster '{}': pid {} (slot {}) now names another process; not killing it", cluster, p.pid,
                   p.slot);
      continue;
    }
    if (kill(p.pid, SIGKILL) == 0) ++killed;
  }
  return killed;
}

bool reap_within(int pid, uint64_t timeout_ms) {
  const Deadline d = Deadline::in_ms(timeout_ms);
  for (;;) {
    const pid_t r = waitpid(pid, nullptr, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (d.passed()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

static Status make_private_dir(const std::string& path, bool existing_keeps_mode) {
  if (::mkdir(path.c_str(), 0700) == 0) {
    ::chmod(path.c_str(), 0700);  // ours, just made: whatever the umask
    return Status::ok();
  }
  if (errno != EEXIST) return errno_status("mkdir", path, errno);
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) return errno_status("stat", path, errno);
  if (existing_keeps_mode && S_ISDIR(st.st_mode)) return Status::ok();
  if (!S_ISDIR(st.st_mode))
    return Status::io_error("refusing " + path + ": it exists and is not a directory (or is a symlink)");
  if (st.st_uid != geteuid())
    return Status::io_error("refusing " + path + ": it is owned by uid " + std::to_string(st.st_uid) +
                            ", not by this user (uid " + std::to_string(geteuid()) + ")");
  return Status::ok();
}

Status make_private_dirs(const std::string& data_dir, const std::vector<std::string>& subdirs) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(data_dir).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();  // "d/" is "d"
  if (dir.has_parent_path()) std::filesystem::create_directories(dir.parent_path(), ec);
  if (ec) return Status::io_error("cannot create --dir " + data_dir + ": " + ec.message());
  // The data dir itself: made private if we make it, left as it is if not.
  if (Status s = make_private_dir(dir.string(), true); !s) return Status::io_error("--dir: " + s.message());
  for (const auto& sub : subdirs)
    if (Status s = make_private_dir(data_dir + "/" + sub, false); !s) return s;
  return Status::ok();
}

}  // namespace cv::launcher
