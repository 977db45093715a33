// SnapshotRecords: the records of one hot-backup snapshot, as the serving
// node's store hands them over, and their sort into key order.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "node/record_blob.h"
#include "shm/key_prefix.h"

namespace cv::node {

// Records of one snapshot: pointers to their immutable blobs, which hold
// key and value and which the store keeps alive until release_snapshot(),
// each with its key's first 16 bytes beside it for the sort; sorted by key.
struct SnapshotRecords {
  struct Entry {
    // The key's first 16 bytes, big-endian and zero-padded: most comparisons
    // of a sort end here. Filled in by sort(), off the request loop, so that
    // taking the copy reads the table and not the blobs.
    shm::KeyPrefix prefix;
    const RecordBlob* blob;
    uint64_t key_len;  // beside the prefix, so most comparisons never read the blob
  };
  static_assert(sizeof(Entry) == 32);
  std::vector<Entry> entries;
  // Old values that writes set aside before their shard was copied.
  std::vector<BlobRef> kept;

  void add(const RecordBlob* blob) { entries.push_back(Entry{{}, blob, 0}); }
  std::string_view key(const Entry& e) const { return e.blob->key(); }
  std::string_view value(const Entry& e) const { return e.blob->value(); }
  // Once sorted, entries are read in key order, and their blobs lie at
  // scattered addresses: a reader calls prefetch(i + kPrefetchAhead) before
  // reading entry i.
  static constexpr size_t kPrefetchAhead = 16;
  void prefetch(size_t i) const {
    if (i < entries.size()) __builtin_prefetch(entries[i].blob);
  }
  // Key order (bytewise), as the backup file needs. REQUIRES: prefixes
  // filled in (sort() does).
  bool less(const Entry& a, const Entry& b) const {
    const int c = shm::compare_prefixed(a.prefix, a.key_len, b.prefix, b.key_len);
    if (c != shm::kCompareTails) return c < 0;
    return a.blob->key().substr(shm::kKeyPrefixBytes) < b.blob->key().substr(shm::kKeyPrefixBytes);
  }
  // Sorts entries by key, on the calling thread: every node sorts its own
  // copy at the same time, so the nodes already use the cores together.
  void sort();
  // Frees the entries a piece at a time: returning tens of MiB in one
  // system call holds a core for over 10 ms, which the kernel does not
  // preempt. Leaves `kept` to its owner: those blobs are the store's.
  void free_gradually();
};

}  // namespace cv::node
