// RecordStore: a serving node's records, sharded by partition, each shard
// behind its own mutex so the hot-backup thread can copy one partition while
// the request loop keeps writing the others. Supports a point-in-time
// snapshot without stopping writes: after begin_snapshot(), the first write
// to a record of a not-yet-copied shard keeps the record's old value aside.
// Writes (apply, assign, prefetch, reserve) come from one thread, the
// node's request loop; reads and snapshot copies may come from any.
#pragma once

#include <atomic>
#include <deque>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>
#include <vector>

#include "node/record_blob.h"
#include "node/snapshot_records.h"
#include "shm/messages.h"

namespace cv::node {

// A record as a caller sees it (a copy).
struct StoredRecord {
  std::string value;
  uint64_t version = 0;
  uint64_t timestamp = 0;
  bool tombstone = false;
  uint64_t expire_ms = 0;  // absolute, ms since the epoch; 0: none (shm/expiry.h)
};

// A record as for_each shows it, valid during the callback.
struct RecordRef {
  std::string_view value;
  uint64_t version;
  uint64_t timestamp;
  bool tombstone;
  uint64_t expire_ms;
};


class RecordStore {
 public:
  enum class Apply { kApplied, kStale, kFull };

  RecordStore(uint32_t partitions, uint64_t memory_cap);

  // The bytes one live record takes (MEMORY USAGE): its blob (header, the
  // expiry if it has one, key and value) and its table slot with the
  // table's one control byte; the allocator's own rounding is not counted.
  static size_t record_memory(size_t key_bytes, size_t value_bytes, bool has_expiry) {
    return sizeof(RecordBlob) + (has_expiry ? sizeof(uint64_t) : 0) + key_bytes + value_bytes + sizeof(Slot) + 1;
  }

  // Stores the record if the policy lets it; on kStale, *existing holds what
  // was kept. A write that would take the node past its memory cap is kFull.
  // With expired_absent_at_ms set, a held record expired at that time counts
  // as absent (a write from a primary or a restore: the key is gone); moved
  // records leave it 0, so that an old copy never replaces an expired newer
  // one (see sweep_expired).
  Apply apply(uint32_t partition, std::string_view key, std::string_view value, uint64_t version,
              uint64_t timestamp, bool tombstone, shm::Policy policy, StoredRecord* existing,
              uint64_t expire_ms = 0, uint64_t expired_absent_at_ms = 0);
  // As primary: stores the write with version = held version + 1 (1 if
  // new) and a timestamp after the held one, in one lookup; *assigned gets
  // the version and timestamp given. An expired record held still counts
  // for the version, so every replica takes the write as newer.
  Apply assign(uint32_t partition, std::string_view key, std::string_view value, bool tombstone,
               uint64_t now_ns, StoredRecord* assigned, uint64_t expire_ms = 0);
  // Lazy reclaim: forgets the key's record if it expired before now_ms.
  // True if it did. REQUIRES: called from the thread that writes.
  bool erase_if_expired(uint32_t partition, std::string_view key, uint64_t now_ms);
  // The background sweep: forgets records expired before now_ms, for about
  // `budget_ns`, resuming where the last call stopped and skipping
  // partitions without expiring records and those `skip` names (one being
  // moved here, whose older copies are still on their way). Does nothing
  // while a snapshot is pinned (it points at the blobs). Returns how many
  // it forgot. REQUIRES: called from the thread that writes.
  uint64_t sweep_expired(uint64_t budget_ns, uint64_t now_ms, const std::function<bool(uint32_t)>& skip);
  // Records that carry an expiry (expired or not), over every partition.
  uint64_t expiring() const { return expiring_.load(std::memory_order_relaxed); }
  // Starts loading the memory a lookup of `key` will touch, so that a batch
  // can overlap its records' cache misses. Only the thread that writes may
  // call it (it reads the table's layout without the shard lock, and only
  // that thread changes the layout).
  void prefetch(uint32_t partition, std::string_view key) const;
  // Makes room in the partition's table for `records` keys in all, so that
  // a bulk load does not grow it step by step. Never shrinks.
  void reserve(uint32_t partition, uint64_t records);
  // The record for a key, tombstones included.
  std::optional<StoredRecord> get(uint32_t partition, std::string_view key) const;
  // Calls fn for every record of one partition (under its shard lock).
  void for_each(uint32_t partition, const std::function<void(std::string_view, const RecordRef&)>& fn) const;

  // References to every stored version of one partition (tombstones
  // included), taken under its shard lock: pointers only, so a partition
  // move can send the records later while writes go on.
  std::vector<BlobRef> collect(uint32_t partition) const;
  // Forgets every record of one partition (a move took it elsewhere) and
  // returns how many there were. Their memory is given back later, by
  // free_dropped(). REQUIRES: called from the thread that writes, and no
  // snapshot pinned (a backup's copy may point at them).
  uint64_t drop_partition(uint32_t partition);
  // Frees dropped records for about `budget_ns`: thousands of frees at once
  // would hold up the requests behind them. True while some are left.
  // REQUIRES: called from the thread that writes.
  bool free_dropped(uint64_t budget_ns);
  bool snapshot_pinned() const { return snapshot_pinned_.load(std::memory_order_acquire); }

  uint64_t records() const { return records_.load(std::memory_order_relaxed); }
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  uint32_t partitions() const { return uint32_t(shards_.size()); }

  // Marks the snapshot instant. From here until release_snapshot(), no blob
  // a snapshot may point at is freed. REQUIRES: called from the thread that
  // writes; no other snapshot unreleased.
  void begin_snapshot();
  // Appends the partition's records as of the snapshot instant to out.
  void capture(uint32_t partition, SnapshotRecords* out);
  // Ends the copying: writes no longer set old values aside.
  void end_snapshot();
  // The snapshot's entries are no longer read: writes stop setting values
  // aside, and the values they replaced since the instant are returned for
  // the caller to drop, a piece at a time if it must (they may be many).
  // REQUIRES: called from the thread that writes, whose allocator made
  // them: a free from another thread would take that allocator's lock.
  std::vector<BlobRef> release_snapshot();

 private:
  // A table slot: 16 bytes, the key being in the blob. Fields are mutable
  // because the table hands out its elements as const, and only the key
  // (which never changes for a slot) takes part in hashing.
  struct Slot {
    mutable BlobRef blob;
    mutable uint64_t seq = 0;  // node-local write order, for the snapshot instant
  };
  // Hash and equality of slots by their blob's key, and lookups by a bare
  // key: no allocation to find one.
  struct SlotHash {
    using is_transparent = void;
    size_t operator()(absl::string_view key) const { return absl::Hash<absl::string_view>{}(key); }
    size_t operator()(const Slot& s) const { return (*this)(key_of(s)); }
  };
  struct SlotEq {
    using is_transparent = void;
    bool operator()(const Slot& a, const Slot& b) const { return key_of(a) == key_of(b); }
    bool operator()(const Slot& a, absl::string_view k) const { return key_of(a) == k; }
    bool operator()(absl::string_view k, const Slot& b) const { return k == key_of(b); }
  };
  static absl::string_view key_of(const Slot& s) {
    const std::string_view k = s.blob->key();
    return {k.data(), k.size()};
  }
  using Map = absl::flat_hash_set<Slot, SlotHash, SlotEq>;
  struct Shard {
    mutable std::mutex mu;
    Map map;
    Map preimages;  // old values kept for the snapshot, before the copy
    // Values replaced after the copy that the snapshot points at, handed
    // back by release_snapshot().
    std::vector<BlobRef> retired;
    uint64_t captured_epoch = 0;
    uint64_t expiring = 0;  // records of `map` with an expiry
  };

  // Finds the key's slot or makes an empty one (inserted = true), which
  // the caller fills or erases before the shard lock is let go.
  static std::pair<Map::iterator, bool> find_or_add(Shard& s, std::string_view key);
  // REQUIRES: s.mu held. Writes r over the slot `it` (new or existing).
  Apply store_locked(Shard& s, Map::iterator it, bool inserted, std::string_view key, std::string_view value,
                     uint64_t version, uint64_t timestamp, bool tombstone, uint64_t expire_ms);
  // REQUIRES: s.mu held, no snapshot pinned. Forgets the slot's record.
  void erase_locked(Shard& s, Map::iterator it);

  std::vector<std::unique_ptr<Shard>> shards_;
  // Tables of dropped partitions whose records are not all freed yet, each
  // with the first slot still holding its record.
  struct Dropped {
    Map map;
    Map::iterator next;
  };
  std::deque<Dropped> dropped_;
  const uint64_t memory_cap_;
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> expiring_{0};
  std::atomic<uint64_t> write_seq_{0};
  // Where the sweep goes on: a partition, and how many of its slots it
  // looked at under a table of that capacity (a table that grew since is
  // looked at from its start again).
  uint32_t sweep_partition_ = 0;
  uint64_t sweep_done_ = 0;
  size_t sweep_capacity_ = 0;
  std::atomic<bool> snapshot_active_{false};  // copying: set old values aside
  std::atomic<bool> snapshot_pinned_{false};  // entries in use: retire, do not free
  std::atomic<uint64_t> snapshot_epoch_{0};
  std::atomic<uint64_t> snapshot_seq_{0};
};

}  // namespace cv::node
