// Creating, attaching and removing a cluster's public storage block.
#include "shm/block.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/exceptions.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "shm/clock.h"
#include "shm/futex.h"
#include "shm/proc_state.h"

namespace bip = boost::interprocess;

namespace cv::shm {

std::string segment_name(const std::string& cluster) { return "cachevault." + cluster; }

Status validate_cluster_name(const std::string& cluster) {
  if (cluster.empty() || cluster.size() > 48)
    return Status::invalid("cluster name '" + cluster + "' must be 1 to 48 characters");
  if (cluster[0] == '.') return Status::invalid("cluster name '" + cluster + "' must not start with '.'");
  for (char c : cluster) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.';
    if (!ok) return Status::invalid("cluster name '" + cluster + "' may hold only letters, digits, '_', '-' and '.'");
  }
  return Status::ok();
}

bool pid_alive(int pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  // A zombie (dead, not yet reaped: where PID 1 does not reap) still answers
  // kill(pid, 0); its state letter in /proc tells.
  const char state = process_state(pid);
  return state != 'Z' && state != 'X';
}

std::string launcher_lock_path(const std::string& cluster) { return "/dev/shm/" + segment_name(cluster) + ".lock"; }

static std::string octal_mode(unsigned mode) {
  char buf[8];
  snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

Status check_private_file(int fd, const std::string& path) {
  struct stat st{};
  if (fstat(fd, &st) != 0) return errno_status("stat", path, errno);
  const bool ours = st.st_uid == geteuid();
  const bool private_mode = (st.st_mode & 07777) == 0600;
  if (ours && private_mode && S_ISREG(st.st_mode)) return Status::ok();
  std::string why = !S_ISREG(st.st_mode) ? "it is not a regular file"
                    : !ours ? "it is owned by uid " + std::to_string(st.st_uid) + ", not by this user (uid " +
                                  std::to_string(geteuid()) + ")"
                            : "its mode is " + octal_mode(st.st_mode) + ", not 0600";
  return Status::io_error("refusing " + path + " (owner uid " + std::to_string(st.st_uid) + ", mode " +
                          octal_mode(st.st_mode) + "): " + why +
                          "; another local user may have made or opened it up. Remove it if it is not yours");
}

Status open_launcher_lock(const std::string& cluster, bool create, int* fd_out) {
  const std::string path = launcher_lock_path(cluster);
  for (int attempt = 0; attempt < 10; ++attempt) {
    // Never through a symlink: /dev/shm is writable by every user.
    int fd = ::open(path.c_str(), (create ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0 && errno == EEXIST) continue;  // made meanwhile: open it as it is, and check it
      if (fd >= 0) fchmod(fd, 0600);            // whatever the umask
    }
    if (fd < 0) {
      if (errno == ELOOP) return Status::io_error("refusing " + path + ": it is a symbolic link");
      if (errno == ENOENT) return Status::not_found(path + " does not exist");
      return errno_status("open", path, errno);
    }
    if (Status s = check_private_file(fd, path); !s) {
      ::close(fd);
      return s;
    }
    *fd_out = fd;
    return Status::ok();
  }
  return Status::io_error("open " + path + ": it keeps being replaced");
}

bool launcher_holds_lock(const std::string& cluster) {
  int fd = -1;
  if (!open_launcher_lock(cluster, false, &fd)) return false;
  // The launcher holds LOCK_EX for its whole life; the kernel drops it the
  // moment the launcher dies, whatever state it is left in.
  const bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

static void init_layout(BlockLayout* b, const std::string& cluster, const ClusterConfig& config, int launcher_pid) {
  // The segment comes zero-filled from ftruncate; only non-zero fields and
  // the mutexes need setting.
  b->header.magic = kBlockMagic;
  b->header.version = kBlockVersion;
  b->header.total_bytes = kBlockBytes;
  b->header.launcher_pid = launcher_pid;
  b->header.start_time_ns = wall_ns();
  if (const char* e = std::getenv(kTestClockEnv); e && std::string_view(e) == "1")
    b->header.test_clock_flags = kTestClockOn;
  b->lock.init();
  b->config = config;
  std::strncpy(b->config.name, cluster.c_str(), kNameBytes - 1);
  b->next_schedule_id.store(1);
  for (auto& m : b->mailboxes) m.producer_lock.init();
}

// A cluster on a test clock: this process's deadlines follow the offset the
// test moves. The header is mapped a second time and that mapping is kept
// for the life of the process, so a thread reading the clock never touches
// a block another thread unmapped.
static void install_test_clock(const bip::shared_memory_object& shm, const BlockLayout& b) {
  if (!(b.header.test_clock_flags & kTestClockOn)) return;
  // The mappings hang off a static that is never destroyed: reachable (so
  // not a leak), and not unmapped at exit under a thread still reading.
  static std::mutex kept_lock;
  static auto* kept = new std::vector<std::unique_ptr<bip::mapped_region>>;
  std::lock_guard g(kept_lock);
  kept->push_back(std::make_unique<bip::mapped_region>(shm, bip::read_only, 0, sizeof(BlockHeader)));
  const auto* h = static_cast<const BlockHeader*>(kept->back()->get_address());
  g_test_clock_offset_ms.store(&h->test_clock_offset_ms, std::memory_order_release);
}

Status Block::create(const std::string& cluster, const ClusterConfig& config, int launcher_pid,
                     std::unique_ptr<Block>* out) {
  const std::string name = segment_name(cluster);
  try {
    bip::permissions perm(0600);
    bip::shared_memory_object shm(bip::create_only, name.c_str(), bip::read_write, perm);
    // The umask could have narrowed or the library widened the mode; pin it.
    fchmod(shm.get_mapping_handle().handle, 0600);
    shm.truncate(kBlockBytes);
    bip::mapped_region region(shm, bip::read_write);
    auto* b = static_cast<BlockLayout*>(region.get_address());
    init_layout(b, cluster, config, launcher_pid);
    b->header.init_done.store(1, std::memory_order_release);
    install_test_clock(shm, *b);
    out->reset(new Block(cluster, std::move(region)));
    return Status::ok();
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::already_exists_error)
      return Status::busy("cluster '" + cluster + "' is already running (shared memory /dev/shm/" + name + " exists)");
    return Status::io_error("create shared memory /dev/shm/" + name + ": " + e.what());
  }
}

Status Block::attach(const std::string& cluster, std::unique_ptr<Block>* out) {
  const std::string name = segment_name(cluster);
  const std::string not_running = "cluster '" + cluster + "' is not running";
  try {
    bip::shared_memory_object shm(bip::open_only, name.c_str(), bip::read_write);
    // Another local user could have made this block, or opened it up, to
    // read what this user's processes write into it.
    if (Status s = check_private_file(shm.get_mapping_handle().handle, "/dev/shm/" + name); !s) return s;
    int lock_fd = -1;
    if (Status s = open_launcher_lock(cluster, false, &lock_fd); !s && s.code() != Code::kNotFound) return s;
    if (lock_fd >= 0) ::close(lock_fd);
    bip::offset_t size = 0;
    if (!shm.get_size(size) || uint64_t(size) < kBlockBytes)
      return Status::not_found(not_running + " (its block /dev/shm/" + name + " is incomplete)");
    bip::mapped_region region(shm, bip::read_write);
    auto* b = static_cast<BlockLayout*>(region.get_address());
    if (b->header.magic != kBlockMagic || b->header.version != kBlockVersion)
      return Status::not_found(not_running + " (/dev/shm/" + name + " is not a cachevault block of this version)");
    if (b->header.init_done.load(std::memory_order_acquire) != 1)
      return Status::not_found(not_running + " (its block was never finished; start it again with cluster up)");
    if (!pid_alive(b->header.launcher_pid) || !launcher_holds_lock(cluster))
      return Status::not_found(not_running + " (its launcher, pid " + std::to_string(b->header.launcher_pid) +
                               ", is gone; cluster up replaces the stale block)");
    install_test_clock(shm, *b);
    out->reset(new Block(cluster, std::move(region)));
    return Status::ok();
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error) return Status::not_found(not_running);
    return Status::io_error("open shared memory /dev/shm/" + name + ": " + e.what());
  }
}

bool Block::remove(const std::string& cluster) {
  // Spill files whose messages were never read go with the block.
  spill_remove_all(cluster);
  return bip::shared_memory_object::remove(segment_name(cluster).c_str());
}

void Block::notify_change() {
  layout().header.change_seq.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&layout().header.change_seq, 1 << 30);
}

void Block::wait_change(uint32_t seen, uint64_t timeout_ms) {
  futex_wait(&layout().header.change_seq, seen, timeout_ms * 1'000'000ull);
}

}  // namespace cv::shm
