// Spill files in /dev/shm: written whole before their ring message is sent,
// read whole and removed by the receiver.
#include "shm/spill.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "shm/file_env.h"

namespace cv::shm {

namespace {
constexpr std::string_view kShmDir = "/dev/shm/";
constexpr std::string_view kSpillMarker = "+spill.";
std::atomic<uint64_t> g_spill_seq{0};

// A name the receiver may open: "cachevault.<...>+spill.<...>", NUL within
// the field, no path separator.
bool well_named(const SpillRefWire& ref, std::string* name) {
  const void* nul = std::memchr(ref.name, '\0', sizeof ref.name);
  if (nul == nullptr) return false;
  std::string n(ref.name, static_cast<const char*>(nul) - ref.name);
  if (n.rfind("cachevault.", 0) != 0 || n.find(kSpillMarker) == std::string::npos ||
      n.find('/') != std::string::npos)
    return false;
  *name = std::move(n);
  return true;
}
}  // namespace

std::string spill_prefix(const std::string& cluster) {
  return "cachevault." + cluster + std::string(kSpillMarker);
}

Status spill_write(std::string_view prefix, uint16_t type, std::string_view p1, std::string_view p2,
                   SpillRefWire* ref) {
  *ref = SpillRefWire{};
  ref->type = type;
  ref->bytes = p1.size() + p2.size();
  if (ref->bytes > kMaxSpillMessageBytes)
    return Status::invalid("message of " + std::to_string(ref->bytes) + " bytes is too large (at most " +
                           std::to_string(kMaxSpillMessageBytes) + ")");
  const std::string name = std::string(prefix) + std::to_string(getpid()) + "." +
                           std::to_string(g_spill_seq.fetch_add(1, std::memory_order_relaxed));
  if (prefix.empty() || name.size() >= sizeof ref->name)
    return Status::invalid("no spill file name for a message of " + std::to_string(ref->bytes) + " bytes");
  std::memcpy(ref->name, name.data(), name.size());
  const std::string path = std::string(kShmDir) + name;
  FileEnv& env = FileEnv::real();
  int fd = -1;
  if (Status s = env.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600, &fd); !s) return s;
  Status s = env.write_all(fd, path, p1.data(), p1.size());
  if (s) s = env.write_all(fd, path, p2.data(), p2.size());
  env.close(fd);
  if (!s) env.unlink(path);
  return s;
}

Status spill_read(const SpillRefWire& ref, std::string* out) {
  std::string name;
  if (!well_named(ref, &name)) return Status::invalid("a spilled message names no spill file");
  const std::string path = std::string(kShmDir) + name;
  if (ref.bytes > kMaxSpillMessageBytes) {
    FileEnv::real().unlink(path);
    return Status::invalid(path + ": a spilled message of " + std::to_string(ref.bytes) + " bytes is too large");
  }
  int fd = -1;
  if (Status s = FileEnv::real().open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0, &fd); !s) return s;
  struct stat st {};
  Status s = Status::ok();
  if (fstat(fd, &st) != 0) {
    s = Status::io_error("fstat " + path + ": " + std::strerror(errno));
  } else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
    // Not ours to read, nor to remove.
    ::close(fd);
    return Status::io_error(path + " is not a spill file of this user's with mode 0600; left alone");
  } else if (uint64_t(st.st_size) != ref.bytes) {
    s = Status::io_error(path + " holds " + std::to_string(st.st_size) + " bytes where its message says " +
                        std::to_string(ref.bytes));
  } else {
    out->resize(ref.bytes);
    size_t done = 0;
    while (s && done < out->size()) {
      const ssize_t n = pread(fd, out->data() + done, out->size() - done, off_t(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) s = Status::io_error("read " + path + ": " + (n < 0 ? std::strerror(errno) : "short file"));
      else done += size_t(n);
    }
  }
  ::close(fd);
  FileEnv::real().unlink(path);
  return s;
}

void spill_discard(const SpillRefWire& ref) {
  std::string name;
  if (well_named(ref, &name)) FileEnv::real().unlink(std::string(kShmDir) + name);
}

size_t spill_remove_all(const std::string& cluster) {
  const std::string prefix = spill_prefix(cluster);
  DIR* d = opendir(std::string(kShmDir).c_str());
  if (d == nullptr) return 0;
  size_t n = 0;
  while (dirent* e = readdir(d)) {
    if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) != 0) continue;
    if (unlinkat(dirfd(d), e->d_name, 0) == 0) ++n;
  }
  closedir(d);
  return n;
}

}  // namespace cv::shm
