// BackupWriter: streams sorted records into a backup file (format in
// shm/backup_format.h) and publishes it atomically under its final name.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "shm/backup_format.h"
#include "shm/file_env.h"
#include "shm/status.h"

namespace cv::fmt {

// Writes "<final_path>.tmp.<pid>" (mode 0600) through one large buffer and
// publishes it as final_path in finish() (shm::publish: by default never
// replacing a file already there). All file calls go through a FileEnv. The whole-file checksum is updated as
// bytes leave the buffer, so nothing is read back. Failures come back as
// Status (only running out of memory in create() throws); after an I/O
// error the writer stays failed and the temp file is gone. Destroying a
// writer that did not finish removes its temp file.
// One owner, one thread; not copyable.
class BackupWriter {
 public:
  static Status create(const std::string& final_path, const FileHeaderInfo& info,
                       std::unique_ptr<BackupWriter>* out, shm::FileEnv& env = shm::FileEnv::real());
  ~BackupWriter();
  BackupWriter(const BackupWriter&) = delete;
  BackupWriter& operator=(const BackupWriter&) = delete;

  // REQUIRES: r.key strictly greater (bytewise) than the previous key, 1 to
  // kMaxKeyBytes long; r.value at most kMaxValueBytes; no tombstone in a
  // consolidated file. A record breaking these is refused (invalid argument)
  // and the writer stays usable.
  Status add(const RecordView& r);

  // From now on each buffer that leaves for the file is also handed to the
  // disk at once (sync_file_range), so a durable finish() waits only for
  // the last pieces.
  void write_back_early() { write_back_early_ = true; }

  // Writes index and footer. durable: fsync the file, rename, fsync the
  // directory; otherwise only rename. `before_rename` runs just before the
  // rename and may refuse (the file is then dropped). With Replace::kNever
  // an existing final_path is an error and stays as it was. The writer is
  // spent afterwards.
  Status finish(bool durable, shm::Replace replace = shm::Replace::kNever,
                const std::function<Status()>& before_rename = {});

  uint64_t records() const { return records_; }
  // Bytes of the file so far, buffered ones included.
  uint64_t bytes_written() const { return flushed_ + used_; }
  const std::string& temp_path() const { return temp_path_; }
  const std::string& final_path() const { return final_path_; }

 private:
  BackupWriter(std::string final_path, std::string temp_path, int fd, const FileHeaderInfo& info,
               shm::FileEnv& env);

  void open_block();
  void close_block();
  Status flush();
  Status append(const char* p, size_t n);  // through the buffer, flushing as needed
  Status fail(Status s);                   // remembers s, removes the temp file

  const std::string final_path_;
  const std::string temp_path_;
  const FileHeaderInfo info_;
  shm::FileEnv& env_;
  int fd_;
  Status error_;  // first I/O error; sticky
  bool done_ = false;
  bool write_back_early_ = false;

  // buffer_ holds kWriteBufferBytes plus one largest block, so an open block
  // always lies whole in the buffer and can be checksummed in place.
  std::unique_ptr<char[]> buffer_;
  size_t used_ = 0;
  uint64_t flushed_ = 0;  // bytes already handed to write(2)
  std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t*)> file_hash_;

  bool block_open_ = false;
  size_t block_start_ = 0;  // buffer position of the open block's header
  uint32_t block_records_ = 0;
  uint64_t blocks_ = 0;
  uint64_t records_ = 0;
  std::string index_;  // encoded index entries so far

  // The previous key: a view into the buffer while its block is open, then
  // a copy in last_key_ (capacity kMaxKeyBytes, so copying never allocates).
  std::string_view prev_key_;
  std::string last_key_;
};

}  // namespace cv::fmt
