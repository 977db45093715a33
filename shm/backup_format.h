// The on-disk layout of a backup file: every constant, every fixed-size
// layout and the little-endian encode/decode helpers. The prose spec is
// docs/backup_format.md; change both together and bump kFormatVersion.
//
//   file   := header block* index footer
//   header := magic version kind backup_id node_id nodes replicas partitions
//             created_ns reserved header_checksum
//   block  := block_magic record_count payload_bytes payload_checksum payload
//   payload:= record*        (records sorted by key, bytewise, strictly)
//   record := key_len value_len version timestamp flags [expire_ms] key value
//   index  := entry* index_checksum      entry := offset record_count key_len key
//   footer := record_count block_count index_offset file_checksum footer_magic
#pragma once

#include <xxhash.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "shm/limits.h"

namespace cv::fmt {

// ---- Byte order. Every multi-byte field is little-endian on disk. ----

template <typename T>
inline void put_le(char* p, T v) {
  static_assert(std::is_unsigned_v<T>);
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
    if constexpr (sizeof(T) == 2) v = __builtin_bswap16(v);
    if constexpr (sizeof(T) == 4) v = __builtin_bswap32(v);
    if constexpr (sizeof(T) == 8) v = __builtin_bswap64(v);
  }
  std::memcpy(p, &v, sizeof(T));
}

template <typename T>
inline T get_le(const char* p) {
  static_assert(std::is_unsigned_v<T>);
  T v;
  std::memcpy(&v, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
    if constexpr (sizeof(T) == 2) v = __builtin_bswap16(v);
    if constexpr (sizeof(T) == 4) v = __builtin_bswap32(v);
    if constexpr (sizeof(T) == 8) v = __builtin_bswap64(v);
  }
  return v;
}

// ---- Identity. ----

inline constexpr uint64_t kFileMagic = 0x5055434b41425643ull;    // "CVBACKUP"
inline constexpr uint32_t kBlockMagic = 0x4b425643u;             // "CVBK"
inline constexpr uint64_t kFooterMagic = 0x5245544f4f465643ull;  // "CVFOOTER"
// Version 2 added the record's expiry (kFlagExpiry). Version 1 files are
// still read: their records have no expiry and their flags no such bit.
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint32_t kOldestReadableVersion = 1;
inline bool readable_version(uint32_t v) { return v >= kOldestReadableVersion && v <= kFormatVersion; }

// Unscoped (but typed) so that it converts to FileHeaderInfo::kind, which the
// header stores as a plain u32; switches over it are still exhaustive.
enum FileKind : uint32_t {
  kNodeCopy = 1,      // one node's copy; may hold tombstones
  kConsolidated = 2,  // the merged backup; never holds tombstones
};

inline bool known_kind(uint32_t kind) { return kind == kNodeCopy || kind == kConsolidated; }
inline const char* kind_name(uint32_t kind) {
  switch (static_cast<FileKind>(kind)) {
    case kNodeCopy: return "node-copy";
    case kConsolidated: return "consolidated";
  }
  return "unknown";
}

// ---- Limits. The reader enforces them as well, so no field of a damaged
// file can make it allocate or read past them. ----

inline constexpr size_t kMinKeyBytes = 1;
inline constexpr size_t kMaxKeyBytes = 1024;
using shm::kMaxValueBytes;  // one limit for every path (shm/limits.h)
// A block is closed before it would pass this many payload bytes; a single
// record bigger than that gets a block of its own.
inline constexpr size_t kBlockTargetBytes = 64u << 10;

// ---- File header: 64 bytes at offset 0. ----

inline constexpr size_t kFileHeaderSize =
    8 + 4 + 4 + 8 + 4 + 4 + 4 + 4 + 8 + 8 + 8;  // magic, version, kind, backup id, node id,
                                                // nodes, replicas, partitions, created,
                                                // missing partitions, header checksum
static_assert(kFileHeaderSize == 64);
inline constexpr size_t kHeaderVersionOffset = 8;
inline constexpr size_t kHeaderKindOffset = 12;
inline constexpr size_t kHeaderBackupIdOffset = 16;
inline constexpr size_t kHeaderNodeIdOffset = 24;
inline constexpr size_t kHeaderNodesOffset = 28;
inline constexpr size_t kHeaderReplicasOffset = 32;
inline constexpr size_t kHeaderPartitionsOffset = 36;
inline constexpr size_t kHeaderCreatedOffset = 40;
// How many partitions a partial backup lacks (0 in a complete one; the
// field was reserved, so readers that predate partial backups refuse one).
inline constexpr size_t kHeaderReservedOffset = 48;
inline constexpr size_t kHeaderMissingCountOffset = kHeaderReservedOffset;
inline constexpr size_t kHeaderChecksumOffset = 56;  // XXH3_64 of bytes [0, 56)

// What a writer chooses for a file; the header stores it verbatim.
struct FileHeaderInfo {
  uint32_t kind = kConsolidated;
  uint64_t backup_id = 0;
  uint32_t node_id = 0;  // meaningful for node copies
  uint32_t source_nodes = 0, source_replicas = 0, source_partitions = 0;
  uint64_t created_ns = 0;  // ns since the epoch
  // A partial backup: the partitions whose every replica was lost, in
  // increasing order; listed in a section after the index.
  std::vector<uint32_t> missing_partitions;
};

inline uint64_t file_header_checksum(const char* p) {
  return XXH3_64bits(p, kHeaderChecksumOffset);
}
// Fills kFileHeaderSize bytes, checksum included. `version` is a parameter
// only so that tests can produce files of other versions.
inline void encode_file_header(const FileHeaderInfo& info, uint32_t version, char* out) {
  put_le<uint64_t>(out, kFileMagic);
  put_le<uint32_t>(out + kHeaderVersionOffset, version);
  put_le<uint32_t>(out + kHeaderKindOffset, info.kind);
  put_le<uint64_t>(out + kHeaderBackupIdOffset, info.backup_id);
  put_le<uint32_t>(out + kHeaderNodeIdOffset, info.node_id);
  put_le<uint32_t>(out + kHeaderNodesOffset, info.source_nodes);
  put_le<uint32_t>(out + kHeaderReplicasOffset, info.source_replicas);
  put_le<uint32_t>(out + kHeaderPartitionsOffset, info.source_partitions);
  put_le<uint64_t>(out + kHeaderCreatedOffset, info.created_ns);
  put_le<uint64_t>(out + kHeaderMissingCountOffset, info.missing_partitions.size());
  put_le<uint64_t>(out + kHeaderChecksumOffset, file_header_checksum(out));
}

// Decodes the fields without judging them; the reader validates.
struct RawFileHeader {
  uint64_t magic = 0;
  uint32_t version = 0;
  FileHeaderInfo info;
  uint64_t reserved = 0;
  uint64_t checksum = 0;
};
inline RawFileHeader decode_file_header(const char* p) {
  RawFileHeader h;
  h.magic = get_le<uint64_t>(p);
  h.version = get_le<uint32_t>(p + kHeaderVersionOffset);
  h.info.kind = get_le<uint32_t>(p + kHeaderKindOffset);
  h.info.backup_id = get_le<uint64_t>(p + kHeaderBackupIdOffset);
  h.info.node_id = get_le<uint32_t>(p + kHeaderNodeIdOffset);
  h.info.source_nodes = get_le<uint32_t>(p + kHeaderNodesOffset);
  h.info.source_replicas = get_le<uint32_t>(p + kHeaderReplicasOffset);
  h.info.source_partitions = get_le<uint32_t>(p + kHeaderPartitionsOffset);
  h.info.created_ns = get_le<uint64_t>(p + kHeaderCreatedOffset);
  h.reserved = get_le<uint64_t>(p + kHeaderReservedOffset);
  h.checksum = get_le<uint64_t>(p + kHeaderChecksumOffset);
  return h;
}

// ---- Block header: 20 bytes before each block's payload. ----

inline constexpr size_t kBlockHeaderSize = 4 + 4 + 4 + 8;  // magic, records, payload bytes,
                                                           // XXH3_64 of the payload
static_assert(kBlockHeaderSize == 20);
inline constexpr size_t kBlockRecordsOffset = 4;
inline constexpr size_t kBlockPayloadBytesOffset = 8;
inline constexpr size_t kBlockChecksumOffset = 12;

struct BlockHeader {
  uint32_t magic = kBlockMagic;
  uint32_t record_count = 0;
  uint32_t payload_bytes = 0;
  uint64_t checksum = 0;
};
inline void encode_block_header(const BlockHeader& h, char* out) {
  put_le<uint32_t>(out, h.magic);
  put_le<uint32_t>(out + kBlockRecordsOffset, h.record_count);
  put_le<uint32_t>(out + kBlockPayloadBytesOffset, h.payload_bytes);
  put_le<uint64_t>(out + kBlockChecksumOffset, h.checksum);
}
inline BlockHeader decode_block_header(const char* p) {
  return {get_le<uint32_t>(p), get_le<uint32_t>(p + kBlockRecordsOffset),
          get_le<uint32_t>(p + kBlockPayloadBytesOffset),
          get_le<uint64_t>(p + kBlockChecksumOffset)};
}

// ---- Record: 23-byte header, the expiry if flagged, then key, then value. ----

inline constexpr size_t kRecordHeaderSize = 2 + 4 + 8 + 8 + 1;  // key len, value len,
                                                                // version, timestamp, flags
static_assert(kRecordHeaderSize == 23);
inline constexpr size_t kRecordValueLenOffset = 2;
inline constexpr size_t kRecordVersionOffset = 6;
inline constexpr size_t kRecordTimestampOffset = 14;
inline constexpr size_t kRecordFlagsOffset = 22;
inline constexpr uint8_t kFlagTombstone = 0x01;
// Version 2 on: the record expires (expire_ms:u64, ms since the Unix epoch,
// never 0, follows the flags). Records without one spend nothing on it.
inline constexpr uint8_t kFlagExpiry = 0x02;
inline constexpr size_t kRecordExpirySize = 8;
inline constexpr uint8_t known_flags(uint32_t version) {
  return version >= 2 ? kFlagTombstone | kFlagExpiry : kFlagTombstone;
}
inline constexpr size_t kMinRecordSize = kRecordHeaderSize + kMinKeyBytes;
inline constexpr size_t kMaxRecordSize = kRecordHeaderSize + kRecordExpirySize + kMaxKeyBytes + kMaxValueBytes;
// The largest payload a block can have: just under the target plus one record.
inline constexpr size_t kMaxBlockPayload = kBlockTargetBytes + kMaxRecordSize;
static_assert(kMaxBlockPayload <= UINT32_MAX);

// One record as the writer takes it and the reader yields it. The views of a
// decoded record point into the reader's mapping.
struct RecordView {
  std::string_view key, value;
  uint64_t version = 0, timestamp = 0;
  bool tombstone = false;
  uint64_t expire_ms = 0;  // 0: none
};

// Bytes before the key: the header and, if the record has one, its expiry.
inline size_t record_prefix_size(const RecordView& r) {
  return kRecordHeaderSize + (r.expire_ms ? kRecordExpirySize : 0);
}
inline size_t record_size(const RecordView& r) { return record_prefix_size(r) + r.key.size() + r.value.size(); }

// Writes the header and the expiry (record_prefix_size(r) bytes), in the
// current version's layout.
inline void encode_record_header(char* p, const RecordView& r) {
  put_le<uint16_t>(p, static_cast<uint16_t>(r.key.size()));
  put_le<uint32_t>(p + kRecordValueLenOffset, static_cast<uint32_t>(r.value.size()));
  put_le<uint64_t>(p + kRecordVersionOffset, r.version);
  put_le<uint64_t>(p + kRecordTimestampOffset, r.timestamp);
  p[kRecordFlagsOffset] = static_cast<char>((r.tombstone ? kFlagTombstone : 0) | (r.expire_ms ? kFlagExpiry : 0));
  if (r.expire_ms) put_le<uint64_t>(p + kRecordHeaderSize, r.expire_ms);
}

// The key of an encoded record (the first of a block, for the index).
inline size_t encoded_key_offset(const char* p) {
  return kRecordHeaderSize + ((static_cast<uint8_t>(p[kRecordFlagsOffset]) & kFlagExpiry) ? kRecordExpirySize : 0);
}

// Decodes the record at p, which has `avail` readable bytes, in the layout
// of format `version`. Returns the record's size, or 0 with *why set when
// the framing is bad. Never reads outside [p, p + avail).
inline size_t decode_record(const char* p, size_t avail, RecordView* r, const char** why,
                            uint32_t version = kFormatVersion) {
  if (avail < kRecordHeaderSize) {
    *why = "record header runs past the block end";
    return 0;
  }
  const size_t key_len = get_le<uint16_t>(p);
  const size_t value_len = get_le<uint32_t>(p + kRecordValueLenOffset);
  const auto flags = static_cast<uint8_t>(p[kRecordFlagsOffset]);
  const size_t prefix = kRecordHeaderSize + ((flags & kFlagExpiry) ? kRecordExpirySize : 0);
  const size_t size = prefix + key_len + value_len;
  *why = key_len < kMinKeyBytes || key_len > kMaxKeyBytes ? "bad key length"
         : value_len > kMaxValueBytes                     ? "bad value length"
         : (flags & ~known_flags(version)) != 0           ? "unknown record flags"
         : size > avail                                   ? "record runs past the block end"
                                                          : nullptr;
  if (*why != nullptr) return 0;
  r->expire_ms = (flags & kFlagExpiry) ? get_le<uint64_t>(p + kRecordHeaderSize) : 0;
  if ((flags & kFlagExpiry) && r->expire_ms == 0) {
    *why = "record flagged as expiring has expiry 0";
    return 0;
  }
  r->key = std::string_view(p + prefix, key_len);
  r->value = std::string_view(p + prefix + key_len, value_len);
  r->version = get_le<uint64_t>(p + kRecordVersionOffset);
  r->timestamp = get_le<uint64_t>(p + kRecordTimestampOffset);
  r->tombstone = (flags & kFlagTombstone) != 0;
  return size;
}

// ---- Block index: one entry per block, then the index checksum. ----

inline constexpr size_t kIndexEntryFixedSize = 8 + 4 + 2;  // block offset, records,
                                                           // first-key length; then the key
inline constexpr size_t kIndexEntryRecordsOffset = 8;
inline constexpr size_t kIndexEntryKeyLenOffset = 12;
inline constexpr size_t kIndexChecksumSize = 8;  // XXH3_64 of all entries

// ---- Footer: the last 40 bytes of the file. ----

inline constexpr size_t kFooterSize = 8 + 8 + 8 + 8 + 8;  // records, blocks, index offset,
                                                          // XXH3_64 of bytes before the
                                                          // footer, footer magic
static_assert(kFooterSize == 40);
inline constexpr size_t kFooterRecordsOffset = 0;
inline constexpr size_t kFooterBlocksOffset = 8;
inline constexpr size_t kFooterIndexOffset = 16;
inline constexpr size_t kFooterChecksumOffset = 24;
inline constexpr size_t kFooterMagicOffset = 32;

struct Footer {
  uint64_t record_count = 0;
  uint64_t block_count = 0;
  uint64_t index_offset = 0;
  uint64_t file_checksum = 0;
  uint64_t magic = kFooterMagic;
};
inline void encode_footer(const Footer& f, char* out) {
  put_le<uint64_t>(out + kFooterRecordsOffset, f.record_count);
  put_le<uint64_t>(out + kFooterBlocksOffset, f.block_count);
  put_le<uint64_t>(out + kFooterIndexOffset, f.index_offset);
  put_le<uint64_t>(out + kFooterChecksumOffset, f.file_checksum);
  put_le<uint64_t>(out + kFooterMagicOffset, f.magic);
}
inline Footer decode_footer(const char* p) {
  return {get_le<uint64_t>(p + kFooterRecordsOffset), get_le<uint64_t>(p + kFooterBlocksOffset),
          get_le<uint64_t>(p + kFooterIndexOffset), get_le<uint64_t>(p + kFooterChecksumOffset),
          get_le<uint64_t>(p + kFooterMagicOffset)};
}

// The smallest well-formed file: header, empty index, footer.
inline constexpr size_t kMinFileSize = kFileHeaderSize + kIndexChecksumSize + kFooterSize;

// ---- Missing partitions: between the index checksum and the footer. ----
// partition:u32{missing count} checksum:u64 (XXH3 of the ids); absent when
// the header counts none.
inline constexpr size_t kMissingIdSize = 4;
inline constexpr size_t kMissingChecksumSize = 8;
inline constexpr uint64_t kMaxMissingPartitions = 1u << 16;
inline uint64_t missing_section_size(uint64_t count) {
  return count == 0 ? 0 : count * kMissingIdSize + kMissingChecksumSize;
}

}  // namespace cv::fmt
