// BackupReader: opens a backup file read-only through mmap, checks its
// structure before trusting anything, verifies checksums on demand and
// iterates its records without copying them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shm/backup_format.h"
#include "shm/status.h"

namespace cv::fmt {

// One block as the index describes it, cross-checked with the block header.
struct BlockInfo {
  uint64_t offset = 0;  // of the block header
  uint32_t records = 0;
  uint32_t payload_bytes = 0;
  uint64_t checksum = 0;  // as stored in the block header
  std::string_view first_key;
};

class RecordCursor;

// After open() succeeds, header, footer and index are sound: every block lies
// inside the file, in order, and matches its index entry; the last block's
// records were walked to learn the last key. Other payload bytes are only
// trusted as far as each access bounds-checks them; verify_all() checks
// them all. Any damage comes back as Status::corrupt with the byte offset.
// Owns its mapping (unless opened over caller memory); immutable after
// open, so const methods may be called from several threads. Not copyable.
// Published backup files are never modified in place; one that shrank under
// a mapping would make a read fault (SIGBUS), which no check can prevent.
class BackupReader {
 public:
  // Maps the file at path. Missing file: kNotFound; not a regular file or
  // damaged: kCorrupt naming the path; other open/mmap failures: kIoError.
  static Status open(const std::string& path, std::unique_ptr<BackupReader>* out);
  // Reads a file image held in memory; `bytes` must outlive the reader.
  // `name` is used in messages.
  static Status open_memory(std::string_view bytes, const std::string& name,
                            std::unique_ptr<BackupReader>* out);
  ~BackupReader();
  BackupReader(const BackupReader&) = delete;
  BackupReader& operator=(const BackupReader&) = delete;

  // Checks every block checksum, record framing, per-block and total record
  // counts, strictly ascending keys across the file, no tombstones in a
  // consolidated file, and the whole-file checksum. Reports the first problem.
  Status verify_all() const;
  // Records that carry an expiry, counted by the last verify_all().
  uint64_t records_with_expiry() const { return with_expiry_; }

  const std::string& path() const { return path_; }
  // The file's own version (an older one than this build writes reads too).
  uint32_t format_version() const { return version_; }
  const FileHeaderInfo& header() const { return header_; }
  uint32_t kind() const { return header_.kind; }
  uint64_t backup_id() const { return header_.backup_id; }
  uint64_t file_checksum() const { return footer_.file_checksum; }
  uint64_t record_count() const { return footer_.record_count; }
  size_t block_count() const { return blocks_.size(); }
  const BlockInfo& block(size_t i) const { return blocks_[i]; }
  const std::vector<BlockInfo>& blocks() const { return blocks_; }
  // Empty for a file without records.
  std::string_view first_key() const;
  std::string_view last_key() const { return last_key_; }

  // The whole file as mapped, for copying it elsewhere.
  const char* data() const { return data_; }
  size_t size() const { return size_; }

  // A cursor at the first record of block `first_block` (at the end if
  // first_block >= block_count()).
  RecordCursor cursor(size_t first_block = 0) const;

 private:
  BackupReader(std::string path, const char* data, size_t size, bool owns_mapping);
  Status check_structure();
  Status parse_index(uint64_t index_at, uint64_t entries_end);
  Status check_block_header(size_t i, uint64_t index_at);
  Status check_block(size_t i, std::string_view* last_key, uint64_t* with_expiry) const;

  const std::string path_;
  const char* const data_;
  const size_t size_;
  const bool owns_mapping_;
  FileHeaderInfo header_;
  uint32_t version_ = kFormatVersion;  // the file's, from its header
  mutable uint64_t with_expiry_ = 0;
  Footer footer_;
  std::vector<BlockInfo> blocks_;
  std::string_view last_key_;

  friend class RecordCursor;
};

// Walks records in key order from a block onward. The views of record()
// point into the reader's mapping and live as long as the reader. A cursor
// that meets bad framing stops (valid() false) and status() says where.
// The reader must outlive the cursor. Not thread safe; cheap to copy.
class RecordCursor {
 public:
  explicit RecordCursor(const BackupReader& reader, size_t first_block = 0);

  bool valid() const { return valid_; }
  const RecordView& record() const { return record_; }
  // Offset in the file of the current record (or of the damage it stopped
  // at); 0 once past the end.
  uint64_t offset() const {
    return valid_ || !status_.is_ok() ? static_cast<uint64_t>(pos_ - reader_->data_) : 0;
  }
  size_t block_index() const { return block_; }
  void next();
  // Positions at the first record whose key is >= key (bytewise); invalid
  // if there is none.
  void seek(std::string_view key);
  // Ok unless the cursor stopped at damaged data.
  const Status& status() const { return status_; }

 private:
  void enter_block(size_t b);
  void decode();

  const BackupReader* reader_;
  size_t block_ = 0;
  const char* pos_ = nullptr;        // current record
  const char* block_end_ = nullptr;  // end of the current block's payload
  uint32_t left_in_block_ = 0;       // records from pos_ to the block end
  size_t size_ = 0;                  // bytes of the current record
  RecordView record_;
  bool valid_ = false;
  Status status_;
};

}  // namespace cv::fmt
