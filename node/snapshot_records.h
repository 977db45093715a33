// SnapshotRecords: the records of one hot-backup snapshot, as the serving
// node's store hands them over, and their sort into key order.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "node/record_blob.h"
#include "shm/key_prefix.h"

namespace cv::node {

// Records of one snapshot: keys held in the entries themselves up to
// kInlineKeyBytes (most cache keys), longer ones in one arena; values read
// in place from their immutable blobs, which the store keeps alive until
// release_snapshot(); sorted by key.
struct SnapshotRecords {
  static constexpr size_t kInlineKeyBytes = shm::kKeyPrefixBytes;
  struct Entry {
    // The key's first 16 bytes, big-endian and zero-padded: most comparisons
    // of a sort end here, and a key no longer than this is read from here.
    shm::KeyPrefix prefix;
    const RecordBlob* blob;
    // Key length in the low 16 bits (keys are at most 1 KiB), its place in
    // the arena above them (only for keys past kInlineKeyBytes): 32-byte
    // entries move faster through the sort than 40-byte ones.
    uint64_t key_place;
    uint32_t key_len() const { return uint32_t(key_place & 0xffff); }
    uint64_t key_offset() const { return key_place >> 16; }
  };
  static_assert(sizeof(Entry) == 32);
  std::string arena;
  std::vector<Entry> entries;
  // Old values that writes set aside before their shard was copied.
  std::vector<BlobRef> kept;

  void add(std::string_view key, const RecordBlob* blob);
  // The key of e; an inline key is spelled out in `scratch`.
  std::string_view key(const Entry& e, char (&scratch)[kInlineKeyBytes]) const {
    if (e.key_len() > kInlineKeyBytes) return {arena.data() + e.key_offset(), e.key_len()};
    const uint64_t be[2] = {__builtin_bswap64(e.prefix.word[0]), __builtin_bswap64(e.prefix.word[1])};
    std::memcpy(scratch, be, kInlineKeyBytes);
    return {scratch, e.key_len()};
  }
  std::string_view value(const Entry& e) const { return e.blob->value(); }
  // Once sorted, entries are read in key order, and their long keys and
  // values lie at scattered addresses: a reader calls
  // prefetch(i + kPrefetchAhead) before reading entry i.
  static constexpr size_t kPrefetchAhead = 16;
  void prefetch(size_t i) const {
    if (i >= entries.size()) return;
    if (entries[i].key_len() > kInlineKeyBytes) __builtin_prefetch(arena.data() + entries[i].key_offset());
    __builtin_prefetch(entries[i].blob);
  }
  // Key order (bytewise), as the backup file needs.
  bool less(const Entry& a, const Entry& b) const {
    const int c = shm::compare_prefixed(a.prefix, a.key_len(), b.prefix, b.key_len());
    if (c != shm::kCompareTails) return c < 0;
    return std::string_view(arena.data() + a.key_offset(), a.key_len()) <
           std::string_view(arena.data() + b.key_offset(), b.key_len());
  }
  // Sorts entries by key, on the calling thread: every node sorts its own
  // copy at the same time, so the nodes already use the cores together.
  void sort();
  // Frees the entries and the arena a piece at a time: returning tens of
  // MiB in one system call holds a core for over 10 ms, which the kernel
  // does not preempt.
  void free_gradually();
};

}  // namespace cv::node
