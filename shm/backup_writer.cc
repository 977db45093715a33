// BackupWriter: buffered, single-pass writing of a backup file and its atomic
// publication (temp file, fsync, rename, fsync of the directory).
#include "shm/backup_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <new>

namespace cv::fmt {
namespace {

// Bytes gathered before one write(2): big enough that syscalls cost nothing
// next to the copying, small enough that one write(2), which the kernel does
// not preempt, holds a core for well under a millisecond.
constexpr size_t kWriteBufferBytes = 256u << 10;
// With write_back_early(), the disk is handed this much at a time: large
// requests keep it at full speed.
constexpr uint64_t kWriteBackBytes = 4u << 20;
// ... and the writer waits while more than this is handed over and not yet
// on the disk: it then moves at the disk's pace, so the final fsync waits
// for little, dirty memory stays bounded, and progress stays steady.
constexpr uint64_t kWriteBackLagBytes = 64u << 20;
constexpr size_t kBufferCapacity = kWriteBufferBytes + kBlockHeaderSize + kMaxBlockPayload;

}  // namespace

Status BackupWriter::create(const std::string& final_path, const FileHeaderInfo& info,
                            std::unique_ptr<BackupWriter>* out, shm::FileEnv& env) {
  if (!known_kind(info.kind)) {
    return Status::invalid("backup file " + final_path + ": unknown file kind " +
                           std::to_string(info.kind));
  }
  std::string temp = final_path + ".tmp." + std::to_string(::getpid());
  // A temp file of that name can only be left over by a dead process that
  // had our pid; it is garbage.
  env.unlink(temp);
  int fd = -1;
  if (Status s = env.open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600, &fd); !s) return s;
  // The umask may only take bits away, but say exactly what we mean.
  if (::fchmod(fd, 0600) != 0) {
    Status s = errno_status("fchmod", temp, errno);
    env.close(fd);
    env.unlink(temp);
    return s;
  }
  out->reset(new BackupWriter(final_path, std::move(temp), fd, info, env));
  return Status::ok();
}

BackupWriter::BackupWriter(std::string final_path, std::string temp_path, int fd,
                           const FileHeaderInfo& info, shm::FileEnv& env)
    : final_path_(std::move(final_path)),
      temp_path_(std::move(temp_path)),
      info_(info),
      env_(env),
      fd_(fd),
      buffer_(std::make_unique_for_overwrite<char[]>(kBufferCapacity)),
      file_hash_(XXH3_createState(), XXH3_freeState) {
  if (file_hash_ == nullptr) throw std::bad_alloc();
  XXH3_64bits_reset(file_hash_.get());
  last_key_.reserve(kMaxKeyBytes);
  encode_file_header(info_, kFormatVersion, buffer_.get());
  // The whole-file checksum covers the file's skeleton: header, block headers
  // (each carrying its payload's checksum) and index. Payload bytes are thus
  // covered once, through their block checksum, and hashed only once.
  XXH3_64bits_update(file_hash_.get(), buffer_.get(), kFileHeaderSize);
  used_ = kFileHeaderSize;
}

BackupWriter::~BackupWriter() {
  if (fd_ >= 0) env_.close(fd_);
  if (!done_) env_.unlink(temp_path_);
}

Status BackupWriter::fail(Status s) {
  if (error_.is_ok()) error_ = s;
  if (fd_ >= 0) env_.close(fd_);
  fd_ = -1;
  env_.unlink(temp_path_);
  done_ = true;  // nothing left to clean up
  return s;
}

Status BackupWriter::add(const RecordView& r) {
  if (!error_.is_ok()) return error_;
  if (done_) return Status::internal("backup file " + final_path_ + ": add after finish");
  if (r.key.size() < kMinKeyBytes || r.key.size() > kMaxKeyBytes) {
    return Status::invalid("backup file " + final_path_ + ": key of " +
                           std::to_string(r.key.size()) + " bytes (1 to 1024 allowed)");
  }
  if (r.value.size() > kMaxValueBytes) {
    return Status::invalid("backup file " + final_path_ + ": value of " +
                           std::to_string(r.value.size()) + " bytes (at most " + std::to_string(kMaxValueBytes) + " allowed)");
  }
  if (r.tombstone && info_.kind == kConsolidated) {
    return Status::invalid("backup file " + final_path_ + ": tombstone in a consolidated backup");
  }
  if (records_ > 0 && !(prev_key_ < r.key)) {
    return Status::invalid("backup file " + final_path_ + ": keys out of order (record " +
                           std::to_string(records_) + " is not above the previous key)");
  }
  const size_t size = record_size(r);
  const size_t prefix = record_prefix_size(r);
  if (block_open_ && used_ - block_start_ - kBlockHeaderSize + size > kBlockTargetBytes) {
    close_block();
  }
  if (!block_open_) {
    if (used_ >= kWriteBufferBytes) {
      if (Status s = flush(); !s) return fail(s);
    }
    open_block();
  }
  assert(used_ + size <= kBufferCapacity);
  char* p = buffer_.get() + used_;
  encode_record_header(p, r);
  std::memcpy(p + prefix, r.key.data(), r.key.size());
  if (!r.value.empty())
    std::memcpy(p + prefix + r.key.size(), r.value.data(), r.value.size());
  prev_key_ = std::string_view(p + prefix, r.key.size());
  used_ += size;
  ++block_records_;
  ++records_;
  return Status::ok();
}

void BackupWriter::open_block() {
  block_open_ = true;
  block_start_ = used_;
  block_records_ = 0;
  used_ += kBlockHeaderSize;
}

void BackupWriter::close_block() {
  assert(block_open_ && block_records_ > 0);
  char* header = buffer_.get() + block_start_;
  const char* payload = header + kBlockHeaderSize;
  const size_t payload_bytes = used_ - block_start_ - kBlockHeaderSize;
  BlockHeader h;
  h.record_count = block_records_;
  h.payload_bytes = static_cast<uint32_t>(payload_bytes);
  h.checksum = XXH3_64bits(payload, payload_bytes);
  encode_block_header(h, header);
  XXH3_64bits_update(file_hash_.get(), header, kBlockHeaderSize);

  // The first key sits right after the first record header (and expiry).
  const size_t key_len = get_le<uint16_t>(payload);
  char entry[kIndexEntryFixedSize];
  put_le<uint64_t>(entry, flushed_ + block_start_);
  put_le<uint32_t>(entry + kIndexEntryRecordsOffset, block_records_);
  put_le<uint16_t>(entry + kIndexEntryKeyLenOffset, static_cast<uint16_t>(key_len));
  index_.append(entry, sizeof entry);
  index_.append(payload + encoded_key_offset(payload), key_len);

  // The buffer may be flushed before the next record; keep the key.
  last_key_.assign(prev_key_);
  prev_key_ = last_key_;
  block_open_ = false;
  ++blocks_;
}

Status BackupWriter::flush() {
  if (used_ == 0) return Status::ok();
  if (Status s = env_.write_all(fd_, temp_path_, buffer_.get(), used_); !s) return s;
  // Only a start: errors of the writeback itself surface in fsync.
  if (write_back_early_ && (flushed_ + used_) / kWriteBackBytes != flushed_ / kWriteBackBytes) {
    const uint64_t from = flushed_ / kWriteBackBytes * kWriteBackBytes;
    ::sync_file_range(fd_, off64_t(from), off64_t(flushed_ + used_ - from), SYNC_FILE_RANGE_WRITE);
    if (from >= kWriteBackLagBytes)
      ::sync_file_range(fd_, off64_t(from - kWriteBackLagBytes), off64_t(kWriteBackBytes),
                        SYNC_FILE_RANGE_WAIT_BEFORE);
  }
  flushed_ += used_;
  used_ = 0;
  return Status::ok();
}

Status BackupWriter::append(const char* p, size_t n) {
  while (n > 0) {
    if (used_ >= kWriteBufferBytes) {
      if (Status s = flush(); !s) return s;
    }
    const size_t take = std::min(n, kWriteBufferBytes - used_);
    std::memcpy(buffer_.get() + used_, p, take);
    used_ += take;
    p += take;
    n -= take;
  }
  return Status::ok();
}

Status BackupWriter::finish(bool durable, shm::Replace replace, const std::function<Status()>& before_rename) {
  if (!error_.is_ok()) return error_;
  if (done_) return Status::internal("backup file " + temp_path_ + ": finish called twice");
  if (block_open_) close_block();

  Footer footer;
  footer.record_count = records_;
  footer.block_count = blocks_;
  footer.index_offset = bytes_written();
  char checksum[kIndexChecksumSize];
  put_le<uint64_t>(checksum, XXH3_64bits(index_.data(), index_.size()));
  XXH3_64bits_update(file_hash_.get(), index_.data(), index_.size());
  XXH3_64bits_update(file_hash_.get(), checksum, sizeof checksum);
  Status s = append(index_.data(), index_.size());
  if (s) s = append(checksum, sizeof checksum);
  if (s && !info_.missing_partitions.empty()) {
    std::string section(missing_section_size(info_.missing_partitions.size()), '\0');
    for (size_t i = 0; i < info_.missing_partitions.size(); ++i)
      put_le<uint32_t>(section.data() + i * kMissingIdSize, info_.missing_partitions[i]);
    const size_t ids = info_.missing_partitions.size() * kMissingIdSize;
    put_le<uint64_t>(section.data() + ids, XXH3_64bits(section.data(), ids));
    XXH3_64bits_update(file_hash_.get(), section.data(), section.size());
    s = append(section.data(), section.size());
  }
  if (s) s = flush();
  if (!s) return fail(s);

  footer.file_checksum = XXH3_64bits_digest(file_hash_.get());
  char tail[kFooterSize];
  encode_footer(footer, tail);
  s = env_.write_all(fd_, temp_path_, tail, sizeof tail);
  if (!s) return fail(s);
  flushed_ += sizeof tail;
  const int fd = fd_;
  fd_ = -1;
  done_ = true;  // publish() owns the descriptor and the temp file from here
  s = shm::publish(env_, fd, temp_path_, final_path_, replace, durable, before_rename);
  if (!s) error_ = s;
  index_.clear();
  index_.shrink_to_fit();
  return s;
}

}  // namespace cv::fmt
