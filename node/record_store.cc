// RecordStore: apply with policies, reads, and the copy-aside snapshot.
#include "node/record_store.h"

#include <algorithm>

namespace cv::node {

namespace {
// Counters have one writer (the thread that writes records) and readers
// anywhere: a plain store publishes the sum without a locked instruction on
// every write.
uint64_t add(std::atomic<uint64_t>& counter, uint64_t delta) {
  const uint64_t v = counter.load(std::memory_order_relaxed) + delta;
  counter.store(v, std::memory_order_relaxed);
  return v;
}

// Debian's Abseil has its own string_view type.
absl::string_view av(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace

RecordStore::RecordStore(uint32_t partitions, uint64_t memory_cap) : memory_cap_(memory_cap) {
  shards_.reserve(partitions);
  for (uint32_t i = 0; i < partitions; ++i) shards_.push_back(std::make_unique<Shard>());
}

RecordStore::Apply RecordStore::store_locked(Shard& s, Map::iterator it, bool inserted, std::string_view key,
                                             std::string_view value, uint64_t version, uint64_t timestamp,
                                             bool tombstone) {
  const uint64_t old_bytes = inserted ? 0 : key.size() + it->second.blob->value().size();
  const uint64_t new_bytes = key.size() + value.size();
  if (memory_cap_ && new_bytes > old_bytes &&
      bytes_.load(std::memory_order_relaxed) + (new_bytes - old_bytes) > memory_cap_) {
    if (inserted) s.map.erase(it);
    return Apply::kFull;
  }
  const uint64_t seq = add(write_seq_, 1);
  if (inserted) {
    add(records_, 1);
    add(key_bytes_, key.size());
  } else if (snapshot_pinned_.load(std::memory_order_acquire) &&
             it->second.seq <= snapshot_seq_.load(std::memory_order_relaxed)) {
    // The old value is what the node held at the snapshot instant.
    if (snapshot_active_.load(std::memory_order_acquire) &&
        s.captured_epoch < snapshot_epoch_.load(std::memory_order_relaxed)) {
      // Its shard is not copied yet: keep it aside for the copy.
      s.preimages.try_emplace(it->first, it->second);
    } else if (s.captured_epoch == snapshot_epoch_.load(std::memory_order_relaxed)) {
      // Copied: the snapshot points at it until released.
      s.retired.push_back(it->second.blob);
    }
  }
  Slot& slot = it->second;
  slot.blob = RecordBlob::make(value, version, timestamp, tombstone);
  slot.seq = seq;
  add(bytes_, new_bytes - old_bytes);  // modulo 2^64: a shrink subtracts
  return Apply::kApplied;
}

RecordStore::Apply RecordStore::apply(uint32_t partition, std::string_view key, std::string_view value,
                                      uint64_t version, uint64_t timestamp, bool tombstone, shm::Policy policy,
                                      StoredRecord* existing) {
  Shard& s = *shards_[partition];
  std::lock_guard lk(s.mu);
  auto [it, inserted] = s.map.try_emplace(av(key));
  if (!inserted) {
    const RecordBlob& old = *it->second.blob;
    bool keep_old = false;
    switch (policy) {
      case shm::Policy::kNewer: keep_old = !newer(version, timestamp, old.version(), old.timestamp()); break;
      case shm::Policy::kOverwrite: keep_old = false; break;
      case shm::Policy::kSkipExisting: keep_old = !old.tombstone(); break;
    }
    if (keep_old) {
      if (existing) *existing = StoredRecord{std::string(), old.version(), old.timestamp(), old.tombstone()};
      return Apply::kStale;
    }
  }
  return store_locked(s, it, inserted, key, value, version, timestamp, tombstone);
}

RecordStore::Apply RecordStore::assign(uint32_t partition, std::string_view key, std::string_view value,
                                       bool tombstone, uint64_t now_ns, StoredRecord* assigned) {
  Shard& s = *shards_[partition];
  std::lock_guard lk(s.mu);
  auto [it, inserted] = s.map.try_emplace(av(key));
  assigned->version = inserted ? 1 : it->second.blob->version() + 1;
  assigned->timestamp = inserted ? now_ns : std::max(now_ns, it->second.blob->timestamp() + 1);
  return store_locked(s, it, inserted, key, value, assigned->version, assigned->timestamp, tombstone);
}

void RecordStore::prefetch(uint32_t partition, std::string_view key) const {
  shards_[partition]->map.prefetch(av(key));
}

void RecordStore::reserve(uint32_t partition, uint64_t records) {
  Shard& s = *shards_[partition];
  std::lock_guard lk(s.mu);
  if (records > s.map.size()) s.map.reserve(records);
}

std::optional<StoredRecord> RecordStore::get(uint32_t partition, std::string_view key) const {
  const Shard& s = *shards_[partition];
  std::lock_guard lk(s.mu);
  auto it = s.map.find(av(key));
  if (it == s.map.end()) return std::nullopt;
  const RecordBlob& b = *it->second.blob;
  return StoredRecord{std::string(b.value()), b.version(), b.timestamp(), b.tombstone()};
}

void RecordStore::for_each(uint32_t partition,
                           const std::function<void(std::string_view, const RecordRef&)>& fn) const {
  const Shard& s = *shards_[partition];
  std::lock_guard lk(s.mu);
  for (const auto& [k, slot] : s.map) {
    const RecordBlob& b = *slot.blob;
    fn(k, RecordRef{b.value(), b.version(), b.timestamp(), b.tombstone()});
  }
}

void RecordStore::begin_snapshot() {
  snapshot_seq_.store(write_seq_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  snapshot_epoch_.fetch_add(1, std::memory_order_relaxed);
  snapshot_pinned_.store(true, std::memory_order_release);
  snapshot_active_.store(true, std::memory_order_release);
}

void RecordStore::capture(uint32_t partition, SnapshotRecords* out) {
  Shard& s = *shards_[partition];
  const uint64_t snap_seq = snapshot_seq_.load(std::memory_order_relaxed);
  // Only the key bytes are copied: the value stays in its blob, which no
  // later write changes or frees before release_snapshot(). Nor is the
  // blob touched here: the copy reads the shard's table in order and
  // nothing else.
  auto emit = [out](std::string_view k, const Slot& slot) { out->add(k, slot.blob.get()); };
  std::lock_guard lk(s.mu);
  for (const auto& [k, r] : s.map) {
    auto pre = s.preimages.empty() ? s.preimages.end() : s.preimages.find(k);
    if (pre != s.preimages.end())
      emit(k, pre->second);
    else if (r.seq <= snap_seq)
      emit(k, r);
    // else: the key first appeared after the snapshot instant.
  }
  for (auto& [k, slot] : s.preimages) out->kept.push_back(std::move(slot.blob));
  s.preimages.clear();
  s.captured_epoch = snapshot_epoch_.load(std::memory_order_relaxed);
}

void RecordStore::end_snapshot() {
  snapshot_active_.store(false, std::memory_order_release);
  for (auto& sp : shards_) {
    std::lock_guard lk(sp->mu);
    sp->preimages.clear();
  }
}

void RecordStore::release_snapshot() {
  snapshot_pinned_.store(false, std::memory_order_release);
  // A write that saw the pin took its shard's lock first: its retired blob
  // is in the list by the time this takes the lock.
  for (auto& sp : shards_) {
    std::vector<BlobRef> drop;
    {
      std::lock_guard lk(sp->mu);
      drop.swap(sp->retired);
    }
  }
}

}  // namespace cv::node
