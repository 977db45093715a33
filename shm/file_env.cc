// FileEnv on the operating system, and the atomic publication of a file.
#include "shm/file_env.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>

namespace cv::shm {

const char* file_op_name(FileOp op) {
  switch (op) {
    case FileOp::kOpen: return "open";
    case FileOp::kWrite: return "write";
    case FileOp::kFsync: return "fsync";
    case FileOp::kFallocate: return "posix_fallocate";
    case FileOp::kRename: return "rename";
    case FileOp::kFsyncDir: return "fsync of directory";
    case FileOp::kUnlink: return "unlink";
  }
  return "?";
}

FileEnv& FileEnv::real() {
  static FileEnv env;
  return env;
}

Status FileEnv::open(const std::string& path, int flags, mode_t mode, int* fd) {
  *fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  return *fd >= 0 ? Status::ok() : errno_status("open", path, errno);
}

Status FileEnv::write_all(int fd, const std::string& path, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno_status("write", path, errno);
    }
    p += w;
    n -= size_t(w);
  }
  return Status::ok();
}

Status FileEnv::fsync(int fd, const std::string& path) {
  return ::fsync(fd) == 0 ? Status::ok() : errno_status("fsync", path, errno);
}

Status FileEnv::fallocate(int fd, const std::string& path, uint64_t bytes) {
  if (bytes == 0) return Status::ok();
  const int rc = ::posix_fallocate(fd, 0, off_t(bytes));  // returns the error, errno untouched
  return rc == 0 ? Status::ok() : errno_status("posix_fallocate", path, rc);
}

Status FileEnv::rename(const std::string& from, const std::string& to, Replace replace) {
  if (replace == Replace::kAllowed)
    return ::rename(from.c_str(), to.c_str()) == 0 ? Status::ok() : errno_status("rename", from + " to " + to, errno);
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return Status::ok();
  if (errno != EINVAL && errno != ENOSYS) return errno_status("rename", from + " to " + to, errno);
  // No RENAME_NOREPLACE here: link(2) also refuses an existing name.
  if (::link(from.c_str(), to.c_str()) != 0) return errno_status("link", from + " to " + to, errno);
  ::unlink(from.c_str());
  return Status::ok();
}

Status FileEnv::fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_status("open directory", dir, errno);
  const Status s = ::fsync(fd) == 0 ? Status::ok() : errno_status("fsync of directory", dir, errno);
  ::close(fd);
  return s;
}

Status FileEnv::unlink(const std::string& path) {
  return ::unlink(path.c_str()) == 0 || errno == ENOENT ? Status::ok() : errno_status("unlink", path, errno);
}

void FileEnv::close(int fd) { ::close(fd); }

std::string dir_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status publish(FileEnv& env, int fd, const std::string& temp_path, const std::string& final_path, Replace replace,
               bool durable, const std::function<Status()>& before_rename) {
  Status s = durable ? env.fsync(fd, temp_path) : Status::ok();
  env.close(fd);
  if (s && before_rename) s = before_rename();
  if (s) s = env.rename(temp_path, final_path, replace);
  if (!s) {
    env.unlink(temp_path);
    return s;
  }
  // The file is in place; without the directory sync a crash could still
  // lose the name, so a failure here fails the publication, and the file
  // goes again: a caller told "failed" must not find a sound file there.
  if (durable) {
    if (Status d = env.fsync_dir(dir_of(final_path)); !d) {
      env.unlink(final_path);
      return d;
    }
  }
  return Status::ok();
}

Status write_file_atomic(FileEnv& env, const std::string& path, std::string_view data, Replace replace) {
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  // A temp of this name can only be left by a dead process that had our pid.
  env.unlink(temp);
  int fd = -1;
  if (Status s = env.open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600, &fd); !s) return s;
  if (Status s = env.write_all(fd, temp, data.data(), data.size()); !s) {
    env.close(fd);
    env.unlink(temp);
    return s;
  }
  return publish(env, fd, temp, path, replace, true);
}

}  // namespace cv::shm
