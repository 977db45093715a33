// FileEnv: the one door through which cachevault writes the files that must
// survive a crash (backup files, node copies, checkpoints, milestones), in
// the spirit of leveldb's Env. Each call wraps one system call and turns
// errno into a Status naming the call and the path. Tests hand a
// fault-injecting FileEnv to the writers (tests/support/faulty_file_env.h)
// to see what ENOSPC, EIO or a failed fsync at any step does.
//
// publish() and write_file_atomic() are the only implementation of the
// atomic "temp, fsync, rename, fsync the directory" in cachevault.
//
// Thread safety: FileEnv::real() is stateless and may be used from any
// thread. Errors are values.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "shm/status.h"

namespace cv::shm {

// The kinds of call, for fault injection and counting.
enum class FileOp : uint8_t { kOpen, kWrite, kFsync, kFallocate, kRename, kFsyncDir, kUnlink };
inline constexpr int kFileOpCount = 7;
const char* file_op_name(FileOp op);

// Whether publishing may replace a file already at the final name.
enum class Replace : uint8_t {
  kNever,    // backups: an existing file is an error (EEXIST), never touched
  kAllowed,  // a file rewritten in place by design (a checkpoint, a milestone)
};

class FileEnv {
 public:
  virtual ~FileEnv() = default;
  // The operating system.
  static FileEnv& real();

  // open(2); *fd gets the descriptor. Never follows a symlink at the last
  // component when flags has O_NOFOLLOW (callers creating files pass it).
  virtual Status open(const std::string& path, int flags, mode_t mode, int* fd);
  // write(2) until all n bytes are written (EINTR retried).
  virtual Status write_all(int fd, const std::string& path, const char* p, size_t n);
  virtual Status fsync(int fd, const std::string& path);
  // posix_fallocate(3) of [0, bytes): writing through a mapping of the file
  // then cannot raise SIGBUS on a full disk.
  virtual Status fallocate(int fd, const std::string& path, uint64_t bytes);
  // rename(2), or with Replace::kNever renameat2(RENAME_NOREPLACE) (link(2)
  // and unlink(2) where the file system lacks it): an existing `to` is kept
  // and the call fails with EEXIST.
  virtual Status rename(const std::string& from, const std::string& to, Replace replace);
  // fsync(2) of a directory, making a rename or unlink in it durable.
  virtual Status fsync_dir(const std::string& dir);
  // unlink(2); a file already gone is not an error.
  virtual Status unlink(const std::string& path);
  // close(2); its error is only logged by callers that care (after fsync).
  virtual void close(int fd);
};

// The directory part of a path ("." for a bare name).
std::string dir_of(const std::string& path);

// Publishes a written temp file under its final name: fsync it (durable),
// close it, run `before_rename` (which may refuse: the file is then
// dropped), rename it without or with replacing, fsync the directory
// (durable). On any failure the temp file is removed and nothing is left
// under `final_path` (a name that was published but whose directory sync
// failed is removed again); the Status names the step and the path. fd is
// always closed.
Status publish(FileEnv& env, int fd, const std::string& temp_path, const std::string& final_path, Replace replace,
               bool durable, const std::function<Status()>& before_rename = {});

// Writes `data` to "<path>.tmp.<pid>" (created exclusively, mode 0600, not
// through a symlink) and publishes it durably as above.
Status write_file_atomic(FileEnv& env, const std::string& path, std::string_view data, Replace replace);

}  // namespace cv::shm
