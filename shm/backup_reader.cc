// BackupReader: structural checks at open, full verification on demand, and
// the zero-copy record cursor. Every length read from the file is compared
// with the bytes actually there before it is used.
#include "shm/backup_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>

#include "shm/background_thread.h"

namespace cv::fmt {
namespace {

// How far ahead of the current record the cursor prefetches: a few records of
// the typical size, enough to cover DRAM latency.
constexpr size_t kPrefetchAhead = 1024;

Status corrupt_at(const std::string& path, uint64_t offset, const std::string& what) {
  return Status::corrupt(path + ": " + what + " at offset " + std::to_string(offset), offset);
}

Status too_short(const std::string& path, uint64_t size) {
  if (size == 0) return corrupt_at(path, 0, "file is empty");
  return corrupt_at(path, size,
                    "file is " + std::to_string(size) + " bytes, shorter than " +
                        std::to_string(kMinFileSize) + " (header, empty index and footer)");
}

}  // namespace

Status BackupReader::open(const std::string& path, std::unique_ptr<BackupReader>* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Status s = errno_status("fstat", path, errno);
    ::close(fd);
    return s;
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  Status s;
  if (S_ISDIR(st.st_mode)) {
    s = Status::corrupt(path + ": is a directory, not a backup file", 0);
  } else if (!S_ISREG(st.st_mode)) {
    s = Status::corrupt(path + ": is not a regular file", 0);
  } else if (size < kMinFileSize) {
    s = too_short(path, size);
  }
  void* map = nullptr;
  if (s) {
    map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) s = errno_status("mmap", path, errno);
  }
  ::close(fd);  // the mapping keeps the file
  if (!s) return s;
  std::unique_ptr<BackupReader> r(
      new BackupReader(path, static_cast<const char*>(map), size, /*owns_mapping=*/true));
  if (s = r->check_structure(); !s) return s;
  *out = std::move(r);
  return Status::ok();
}

Status BackupReader::open_memory(std::string_view bytes, const std::string& name,
                                 std::unique_ptr<BackupReader>* out) {
  if (bytes.size() < kMinFileSize) return too_short(name, bytes.size());
  std::unique_ptr<BackupReader> r(
      new BackupReader(name, bytes.data(), bytes.size(), /*owns_mapping=*/false));
  if (Status s = r->check_structure(); !s) return s;
  *out = std::move(r);
  return Status::ok();
}

BackupReader::BackupReader(std::string path, const char* data, size_t size, bool owns_mapping)
    : path_(std::move(path)), data_(data), size_(size), owns_mapping_(owns_mapping) {}

BackupReader::~BackupReader() {
  if (owns_mapping_) ::munmap(const_cast<char*>(data_), size_);
}

std::string_view BackupReader::first_key() const {
  return blocks_.empty() ? std::string_view() : blocks_.front().first_key;
}

RecordCursor BackupReader::cursor(size_t first_block) const {
  return RecordCursor(*this, first_block);
}

// REQUIRES: size_ >= kMinFileSize. Trusts nothing it has not checked.
Status BackupReader::check_structure() {
  assert(size_ >= kMinFileSize);
  const RawFileHeader h = decode_file_header(data_);
  if (h.magic != kFileMagic)
    return corrupt_at(path_, 0, "not a cachevault backup file (bad magic)");
  if (!readable_version(h.version)) {
    return corrupt_at(path_, kHeaderVersionOffset,
                      "format version " + std::to_string(h.version) + ", this build reads " +
                          std::to_string(kOldestReadableVersion) + " to " + std::to_string(kFormatVersion));
  }
  version_ = h.version;
  if (h.checksum != file_header_checksum(data_)) {
    return corrupt_at(path_, 0, "header checksum mismatch");
  }
  const uint64_t missing = h.reserved;
  if (missing > kMaxMissingPartitions || missing > h.info.source_partitions ||
      missing_section_size(missing) > size_ - kMinFileSize)
    return corrupt_at(path_, kHeaderMissingCountOffset,
                      "missing-partition count " + std::to_string(missing) + " out of range");
  if (!known_kind(h.info.kind)) {
    return corrupt_at(path_, kHeaderKindOffset, "unknown file kind " + std::to_string(h.info.kind));
  }
  header_ = h.info;

  const uint64_t footer_at = size_ - kFooterSize;
  footer_ = decode_footer(data_ + footer_at);
  if (footer_.magic != kFooterMagic) {
    return corrupt_at(path_, footer_at + kFooterMagicOffset,
                      "no footer (file truncated or not finished)");
  }
  const uint64_t section_at = footer_at - missing_section_size(missing);
  const uint64_t index_at = footer_.index_offset;
  if (index_at < kFileHeaderSize || index_at > section_at - kIndexChecksumSize) {
    return corrupt_at(path_, footer_at + kFooterIndexOffset,
                      "index offset " + std::to_string(index_at) + " outside the file");
  }
  if (missing > 0) {
    const uint64_t ids = missing * kMissingIdSize;
    if (get_le<uint64_t>(data_ + section_at + ids) != XXH3_64bits(data_ + section_at, ids))
      return corrupt_at(path_, section_at, "missing-partition list checksum mismatch");
    for (uint64_t i = 0; i < missing; ++i) {
      const uint32_t p = get_le<uint32_t>(data_ + section_at + i * kMissingIdSize);
      if (p >= header_.source_partitions ||
          (!header_.missing_partitions.empty() && p <= header_.missing_partitions.back()))
        return corrupt_at(path_, section_at + i * kMissingIdSize, "bad missing partition id " + std::to_string(p));
      header_.missing_partitions.push_back(p);
    }
  }
  const uint64_t entries_end = section_at - kIndexChecksumSize;
  if (get_le<uint64_t>(data_ + entries_end) !=
      XXH3_64bits(data_ + index_at, entries_end - index_at)) {
    return corrupt_at(path_, index_at, "block index checksum mismatch");
  }
  if (Status s = parse_index(index_at, entries_end); !s) return s;
  if (blocks_.empty() && index_at != kFileHeaderSize) {
    return corrupt_at(path_, kFileHeaderSize, "bytes between the header and an empty index");
  }
  if (blocks_.size() != footer_.block_count) {
    return corrupt_at(path_, footer_at + kFooterBlocksOffset,
                      "footer counts " + std::to_string(footer_.block_count) +
                          " blocks, the index lists " + std::to_string(blocks_.size()));
  }
  uint64_t records = 0;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (Status s = check_block_header(i, index_at); !s) return s;
    records += blocks_[i].records;
  }
  if (records != footer_.record_count) {
    return corrupt_at(path_, footer_at + kFooterRecordsOffset,
                      "footer counts " + std::to_string(footer_.record_count) +
                          " records, the blocks hold " + std::to_string(records));
  }
  // The last key needs a walk over the last block's framing (bounded by it).
  if (!blocks_.empty()) {
    RecordCursor c(*this, blocks_.size() - 1);
    for (; c.valid(); c.next()) last_key_ = c.record().key;
    if (!c.status()) return c.status();
  }
  return Status::ok();
}

// Reads the index entries in [index_at, entries_end) into blocks_. The
// index is checksummed, so damage here means a bad writer, but it is still
// checked: offsets must chain from the header to the index with room for a
// block header and a record each, and first keys must ascend.
Status BackupReader::parse_index(uint64_t index_at, uint64_t entries_end) {
  // Capacity bounded by the index bytes, never by a count field.
  blocks_.reserve(std::min<uint64_t>(footer_.block_count,
                                     (entries_end - index_at) / (kIndexEntryFixedSize + 1)));
  uint64_t min_offset = kFileHeaderSize;  // where the next block may start
  for (uint64_t pos = index_at; pos < entries_end;) {
    const auto name = [&] { return "index entry " + std::to_string(blocks_.size()); };
    if (entries_end - pos < kIndexEntryFixedSize)
      return corrupt_at(path_, pos, name() + " truncated");
    BlockInfo b;
    b.offset = get_le<uint64_t>(data_ + pos);
    b.records = get_le<uint32_t>(data_ + pos + kIndexEntryRecordsOffset);
    const size_t key_len = get_le<uint16_t>(data_ + pos + kIndexEntryKeyLenOffset);
    if (key_len < kMinKeyBytes || key_len > kMaxKeyBytes ||
        entries_end - pos - kIndexEntryFixedSize < key_len) {
      return corrupt_at(path_, pos, name() + " has a bad first key length");
    }
    b.first_key = std::string_view(data_ + pos + kIndexEntryFixedSize, key_len);
    if (!blocks_.empty() && !(blocks_.back().first_key < b.first_key)) {
      return corrupt_at(path_, pos, name() + ": first keys out of order");
    }
    if (blocks_.empty() ? b.offset != kFileHeaderSize : b.offset < min_offset) {
      return corrupt_at(path_, pos, name() + " puts a block at " + std::to_string(b.offset));
    }
    if (b.offset > index_at || index_at - b.offset < kBlockHeaderSize + kMinRecordSize) {
      return corrupt_at(path_, pos, name() + " puts a block past the index");
    }
    blocks_.push_back(b);
    min_offset = b.offset + kBlockHeaderSize + kMinRecordSize;
    pos += kIndexEntryFixedSize + key_len;
  }
  return Status::ok();
}

// Checks block i's header against its index entry and the span up to the
// next block (or the index): blocks tile the file with no gap.
Status BackupReader::check_block_header(size_t i, uint64_t index_at) {
  BlockInfo& b = blocks_[i];
  const auto name = [i] { return "block " + std::to_string(i); };
  const uint64_t end = i + 1 < blocks_.size() ? blocks_[i + 1].offset : index_at;
  const uint64_t span = end - b.offset - kBlockHeaderSize;  // >= kMinRecordSize, see parse_index
  const BlockHeader h = decode_block_header(data_ + b.offset);
  if (h.magic != kBlockMagic) return corrupt_at(path_, b.offset, name() + " has a bad magic");
  if (h.record_count != b.records || b.records == 0) {
    return corrupt_at(path_, b.offset,
                      name() + " holds " + std::to_string(h.record_count) +
                          " records, the index says " + std::to_string(b.records));
  }
  if (h.payload_bytes != span || span > kMaxBlockPayload ||
      span < uint64_t{b.records} * kMinRecordSize) {
    return corrupt_at(path_, b.offset,
                      name() + " claims " + std::to_string(h.payload_bytes) +
                          " payload bytes, the space up to the next block holds " +
                          std::to_string(span));
  }
  b.payload_bytes = h.payload_bytes;
  b.checksum = h.checksum;
  return Status::ok();
}

// Checks block i's checksum and records; *last_key carries the previous key
// from block to block (a view into the mapping).
Status BackupReader::check_block(size_t i, std::string_view* last_key, uint64_t* with_expiry) const {
  const BlockInfo& b = blocks_[i];
  const auto name = [i] { return "block " + std::to_string(i); };
  const char* p = data_ + b.offset + kBlockHeaderSize;
  const char* const end = p + b.payload_bytes;
  if (XXH3_64bits(p, b.payload_bytes) != b.checksum) {
    return corrupt_at(path_, b.offset, name() + " checksum mismatch");
  }
  const bool consolidated = header_.kind == kConsolidated;
  uint32_t n = 0;
  for (RecordView r; p < end; ++n) {
    const auto at = static_cast<uint64_t>(p - data_);
    const char* why = nullptr;
    const size_t size = decode_record(p, static_cast<size_t>(end - p), &r, &why, version_);
    if (size == 0) return corrupt_at(path_, at, name() + ": " + why);
    p += size;
    if (n == b.records)
      return corrupt_at(path_, at, name() + " has more records than its header says");
    if (n == 0 && r.key != b.first_key) {
      return corrupt_at(path_, at, "first key of " + name() + " differs from the index");
    }
    if ((i > 0 || n > 0) && !(*last_key < r.key)) return corrupt_at(path_, at, "keys out of order");
    if (consolidated && r.tombstone) {
      return corrupt_at(path_, at, "tombstone in a consolidated backup");
    }
    *last_key = r.key;
    *with_expiry += r.expire_ms != 0;
  }
  if (n != b.records) {
    return corrupt_at(path_, b.offset,
                      name() + " holds " + std::to_string(n) + " records, its header says " +
                          std::to_string(b.records));
  }
  return Status::ok();
}

Status BackupReader::verify_all() const {
  std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t*)> hash(XXH3_createState(),
                                                                       XXH3_freeState);
  if (hash == nullptr) return Status::internal("out of memory for a hash state");
  XXH3_64bits_reset(hash.get());
  XXH3_64bits_update(hash.get(), data_, kFileHeaderSize);
  std::string_view last_key;
  uint64_t with_expiry = 0;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    shm::background_yield_point();
    if (Status s = check_block(i, &last_key, &with_expiry); !s) return s;
    // The payload is covered by its block checksum, checked just above.
    XXH3_64bits_update(hash.get(), data_ + blocks_[i].offset, kBlockHeaderSize);
  }
  const uint64_t footer_at = size_ - kFooterSize;
  XXH3_64bits_update(hash.get(), data_ + footer_.index_offset, footer_at - footer_.index_offset);
  if (XXH3_64bits_digest(hash.get()) != footer_.file_checksum) {
    return corrupt_at(path_, footer_at + kFooterChecksumOffset, "whole-file checksum mismatch");
  }
  with_expiry_ = with_expiry;
  return Status::ok();
}

// ---- RecordCursor ----

RecordCursor::RecordCursor(const BackupReader& reader, size_t first_block) : reader_(&reader) {
  enter_block(first_block);
}

void RecordCursor::enter_block(size_t b) {
  block_ = b;
  if (b >= reader_->blocks_.size()) {
    valid_ = false;
    return;
  }
  const BlockInfo& info = reader_->blocks_[b];
  pos_ = reader_->data_ + info.offset + kBlockHeaderSize;
  block_end_ = pos_ + info.payload_bytes;
  left_in_block_ = info.records;
  size_ = 0;
  decode();
}

void RecordCursor::decode() {
  if (pos_ == block_end_ && left_in_block_ == 0) {
    // Every block holds at least a record's worth of payload (checked at
    // open), so this recurses once at most.
    enter_block(block_ + 1);
    return;
  }
  const char* why = nullptr;
  if (left_in_block_ == 0) {
    why = "block has bytes after its last record";
  } else if (pos_ == block_end_) {
    why = "block ends before its last record";
  } else {
    size_ = decode_record(pos_, static_cast<size_t>(block_end_ - pos_), &record_, &why, reader_->version_);
    if (size_ != 0) {
      valid_ = true;
      return;
    }
  }
  valid_ = false;
  status_ = corrupt_at(reader_->path_, static_cast<uint64_t>(pos_ - reader_->data_),
                       "block " + std::to_string(block_) + ": " + why);
}

void RecordCursor::next() {
  if (!valid_) return;
  pos_ += size_;
  --left_in_block_;
  // Where the next record starts depends on this one's lengths, so the loads
  // form a chain the CPU cannot run ahead on; ask for the lines ahead of
  // time. A prefetch never faults, even past the mapping.
  __builtin_prefetch(pos_ + kPrefetchAhead);
  __builtin_prefetch(pos_ + kPrefetchAhead + 64);
  decode();
}

void RecordCursor::seek(std::string_view key) {
  const auto& blocks = reader_->blocks_;
  // The last block whose first key is <= key holds the answer, or it is the
  // first record of the block after it.
  auto it =
      std::upper_bound(blocks.begin(), blocks.end(), key,
                       [](std::string_view k, const BlockInfo& b) { return k < b.first_key; });
  status_ = Status::ok();
  enter_block(it == blocks.begin() ? 0 : static_cast<size_t>(it - blocks.begin() - 1));
  while (valid_ && record_.key < key) next();
}

}  // namespace cv::fmt
