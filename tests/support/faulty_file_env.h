// FaultyFileEnv: a FileEnv (shm/file_env.h) that makes the Nth call of a
// kind fail with a chosen errno (ENOSPC, EIO, ...), as a full or failing
// disk would, and counts the calls of each kind. Everything else goes to
// the real file system. One test thread at a time.
#pragma once

#include <array>
#include <cerrno>

#include "shm/file_env.h"

namespace cv::test {

class FaultyFileEnv : public shm::FileEnv {
 public:
  // The nth call of `op` from now on (1 = the next one) fails with err.
  void fail_at(shm::FileOp op, int nth, int err) {
    fail_at_[int(op)] = calls_[int(op)] + nth;
    errno_[int(op)] = err;
  }
  int calls(shm::FileOp op) const { return calls_[int(op)]; }

  Status open(const std::string& path, int flags, mode_t mode, int* fd) override {
    if (Status s = hit(shm::FileOp::kOpen, path); !s) return *fd = -1, s;
    return FileEnv::open(path, flags, mode, fd);
  }
  Status write_all(int fd, const std::string& path, const char* p, size_t n) override {
    if (Status s = hit(shm::FileOp::kWrite, path); !s) return s;
    return FileEnv::write_all(fd, path, p, n);
  }
  Status fsync(int fd, const std::string& path) override {
    if (Status s = hit(shm::FileOp::kFsync, path); !s) return s;
    return FileEnv::fsync(fd, path);
  }
  Status fallocate(int fd, const std::string& path, uint64_t bytes) override {
    if (Status s = hit(shm::FileOp::kFallocate, path); !s) return s;
    return FileEnv::fallocate(fd, path, bytes);
  }
  Status rename(const std::string& from, const std::string& to, shm::Replace replace) override {
    if (Status s = hit(shm::FileOp::kRename, from); !s) return s;
    return FileEnv::rename(from, to, replace);
  }
  Status fsync_dir(const std::string& dir) override {
    if (Status s = hit(shm::FileOp::kFsyncDir, dir); !s) return s;
    return FileEnv::fsync_dir(dir);
  }
  Status unlink(const std::string& path) override {
    if (Status s = hit(shm::FileOp::kUnlink, path); !s) return s;
    return FileEnv::unlink(path);
  }

 private:
  Status hit(shm::FileOp op, const std::string& path) {
    const int i = int(op);
    if (++calls_[i] != fail_at_[i]) return Status::ok();
    return errno_status(shm::file_op_name(op), path, errno_[i]);
  }

  std::array<int, shm::kFileOpCount> calls_{};
  std::array<int, shm::kFileOpCount> fail_at_{};
  std::array<int, shm::kFileOpCount> errno_{};
};

}  // namespace cv::test
