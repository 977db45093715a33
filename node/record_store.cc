// RecordStore: apply with policies, reads, and the copy-aside snapshot.
#include "node/record_store.h"

#include <algorithm>
#include <utility>

#include "shm/clock.h"
#include "shm/expiry.h"
#include "shm/record_order.h"

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

std::pair<RecordStore::Map::iterator, bool> RecordStore::find_or_add(Shard& s, std::string_view key) {
  bool inserted = false;
  auto it = s.map.lazy_emplace(av(key), [&](const Map::constructor& make) {
    inserted = true;
    make(Slot{});
  });
  return {it, inserted};
}

RecordStore::Apply RecordStore::store_locked(Shard& s, Map::iterator it, bool inserted, std::string_view key,
                                             std::string_view value, uint64_t version, uint64_t timestamp,
                                             bool tombstone, uint64_t expire_ms) {
  const uint64_t old_bytes = inserted ? 0 : key.size() + it->blob->value().size();
  const uint64_t new_bytes = key.size() + value.size();
  if (memory_cap_ && new_bytes > old_bytes &&
      bytes_.load(std::memory_order_relaxed) + (new_bytes - old_bytes) > memory_cap_) {
    if (inserted) s.map.erase(it);
    return Apply::kFull;
  }
  const uint64_t seq = add(write_seq_, 1);
  const bool old_expiring = !inserted && it->blob->expire_ms() != 0;
  if (old_expiring != (expire_ms != 0)) {
    s.expiring += expire_ms ? 1 : -1;
    add(expiring_, expire_ms ? 1 : uint64_t(0) - 1);
  }
  if (inserted) {
    add(records_, 1);
  } else if (snapshot_pinned_.load(std::memory_order_acquire) &&
             it->seq <= snapshot_seq_.load(std::memory_order_relaxed)) {
    // The old value is what the node held at the snapshot instant.
    if (snapshot_active_.load(std::memory_order_acquire) &&
        s.captured_epoch < snapshot_epoch_.load(std::memory_order_relaxed)) {
      // Its shard is not copied yet: keep it aside for the copy.
      s.preimages.insert(*it);
    } else if (s.captured_epoch == snapshot_epoch_.load(std::memory_order_relaxed)) {
      // Copied: the snapshot points at it until released.
      s.retired.push_back(it->blob);
    }
  }
  const Slot& slot = *it;
  slot.blob = RecordBlob::make(key, value, version, timestamp, tombstone, expire_ms);
  slot.seq = seq;
  add(bytes_, new_bytes - old_bytes);  // modulo 2^64: a shrink subtracts
  return Apply::kApplied;
}

RecordStore::Apply RecordStore::apply(uint32_t partition, std::string_view key, std::string_view value,
                                      uint64_t version, uint64_t timestamp, bool tombstone, shm::Policy policy,
                                      StoredRecord* existing, uint64_t expire_ms, uint64_t expired_absent_at_ms) {
  Shard& s = *shards_[partition];
  std::lock_guard lk(s.mu);
  auto [it, inserted] = find_or_add(s, key);
  const bool held_gone = !inserted && expired_absent_at_ms && shm::is_expired(it->blob->expire_ms(), expired_absent_at_ms);
  if (!inserted && !held_gone) {
    const RecordBlob& old = *it->blob;
    bool keep_old = false;
    switch (policy) {
      case shm::Policy::kNewer:
        keep_old = !shm::wins({version, timestamp, tombstone, value},
                              {old.version(), old.timestamp(), old.tombstone(), old.value()});
        break;
      case shm::Policy::kOverwrite: keep_old = false; break;
      case shm::Policy::kSkipExisting: keep_old = !old.tombstone(); break;
    }
    if (keep_old) {
      if (existing)
        *existing = StoredRecord{std::string(), old.version(), old.timestamp(), old.tombstone(), old.expire_ms()};
      return Apply::kStale;
    }
  }
  return store_locked(s, it, inserted, key, value, version, timestamp, tombstone, expire_ms);
}

RecordStore::Apply RecordStore::assign(uint32_t partition, std::string_view key, std::string_view value,
                                       bool tombstone, uint64_t now_ns, StoredRecord* assigned, uint64_t expire_ms) {
  Shard& s = *shards_[partition];
  std::lock_guard lk(s.mu);
  auto [it, inserted] = find_or_add(s, key);
  assigned->version = inserted ? 1 : it->blob->version() + 1;
  assigned->timestamp = inserted ? now_ns : std::max(now_ns, it->blob->timestamp() + 1);
  assigned->expire_ms = expire_ms;
  return store_locked(s, it, inserted, key, value, assigned->version, assigned->timestamp, tombstone, expire_ms);
}

void RecordStore::erase_locked(Shard& s, Map::iterator it) {
  const RecordBlob& b = *it->blob;
  if (b.expire_ms()) {
    --s.expiring;
    add(expiring_, uint64_t(0) - 1);
  }
  add(bytes_, uint64_t(0) - (b.key().size() + b.value().size()));
  add(records_, uint64_t(0) - 1);
  s.map.erase(it);
}

bool RecordStore::erase_if_expired(uint32_t partition, std::string_view key, uint64_t now_ms) {
  if (snapshot_pinned()) return false;
  Shard& s = *shards_[partition];
  std::lock_guard lk(s.mu);
  if (s.expiring == 0) return false;
  auto it = s.map.find(av(key));
  if (it == s.map.end() || !shm::is_expired(it->blob->expire_ms(), now_ms)) return false;
  erase_locked(s, it);
  return true;
}

uint64_t RecordStore::sweep_expired(uint64_t budget_ns, uint64_t now_ms, const std::function<bool(uint32_t)>& skip) {
  if (expiring_.load(std::memory_order_relaxed) == 0 || snapshot_pinned() || shards_.empty()) return 0;
  const uint64_t until = mono_ns() + budget_ns;
  uint64_t erased = 0;
  // At most one round over the partitions per call.
  for (size_t visited = 0; visited <= shards_.size(); ++visited) {
    if (sweep_partition_ >= shards_.size()) sweep_partition_ = 0;
    Shard& s = *shards_[sweep_partition_];
    bool finished = true;
    if (!skip(sweep_partition_)) {
      std::lock_guard lk(s.mu);
      if (s.expiring > 0) {
        if (s.map.capacity() != sweep_capacity_) {
          sweep_capacity_ = s.map.capacity();
          sweep_done_ = 0;
        }
        // Skipping the slots already looked at reads the table's control
        // bytes only, not the records.
        auto it = s.map.begin();
        for (uint64_t k = 0; k < sweep_done_ && it != s.map.end(); ++k) ++it;
        uint32_t n = 0;
        while (it != s.map.end() && s.expiring > 0) {
          if ((++n & 15) == 0 && mono_ns() >= until) {
            finished = false;
            break;
          }
          if (shm::is_expired(it->blob->expire_ms(), now_ms)) {
            // Erasing moves no other slot: the iterator after it stays valid.
            auto next = std::next(it);
            erase_locked(s, it);
            it = next;
            ++erased;
          } else {
            ++it;
            ++sweep_done_;
          }
        }
      }
    }
    if (!finished) break;
    ++sweep_partition_;
    sweep_done_ = 0;
    sweep_capacity_ = 0;
    if (mono_ns() >= until || expiring_.load(std::memory_order_relaxed) == 0) break;
  }
  return erased;
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
  const RecordBlob& b = *it->blob;
  return StoredRecord{std::string(b.value()), b.version(), b.timestamp(), b.tombstone(), b.expire_ms()};
}

void RecordStore::for_each(uint32_t partition,
                           const std::function<void(std::string_view, const RecordRef&)>& fn) const {
  const Shard& s = *shards_[partition];
  std::lock_guard lk(s.mu);
  for (const Slot& slot : s.map) {
    const RecordBlob& b = *slot.blob;
    fn(b.key(), RecordRef{b.value(), b.version(), b.timestamp(), b.tombstone(), b.expire_ms()});
  }
}

std::vector<BlobRef> RecordStore::collect(uint32_t partition) const {
  const Shard& s = *shards_[partition];
  std::vector<BlobRef> out;
  std::lock_guard lk(s.mu);
  out.reserve(s.map.size());
  for (const Slot& slot : s.map) out.push_back(slot.blob);
  return out;
}

uint64_t RecordStore::drop_partition(uint32_t partition) {
  Shard& s = *shards_[partition];
  // The table moves as a whole (no record is touched): a deque never moves
  // its elements, so the saved iterator stays valid.
  Dropped& d = dropped_.emplace_back();
  uint64_t expiring = 0;
  {
    std::lock_guard lk(s.mu);
    d.map.swap(s.map);
    expiring = std::exchange(s.expiring, 0);
  }
  d.next = d.map.begin();
  const uint64_t n = d.map.size();
  add(records_, uint64_t(0) - n);
  add(expiring_, uint64_t(0) - expiring);
  return n;
}

bool RecordStore::free_dropped(uint64_t budget_ns) {
  if (dropped_.empty()) return false;
  const uint64_t until = mono_ns() + budget_ns;
  uint64_t bytes = 0;
  uint32_t k = 0;
  while (!dropped_.empty()) {
    Dropped& d = dropped_.front();
    for (; d.next != d.map.end(); ++d.next, ++k) {
      if ((k & 7) == 7 && mono_ns() >= until) break;
      bytes += d.next->blob->key().size() + d.next->blob->value().size();
      d.next->blob.reset();
    }
    if (d.next != d.map.end()) break;
    dropped_.pop_front();  // the table's own memory
    if (mono_ns() >= until) break;
  }
  add(bytes_, uint64_t(0) - bytes);
  return !dropped_.empty();
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
  // Nothing is copied but blob pointers: key and value stay in their blob,
  // which no later write changes or frees before release_snapshot(). Nor
  // is the blob read here, unless a write replaced it since the instant:
  // the copy reads the shard's table in order and nothing else.
  std::lock_guard lk(s.mu);
  for (const Slot& r : s.map) {
    if (r.seq <= snap_seq) {
      out->add(r.blob.get());
    } else if (!s.preimages.empty()) {
      // Written since the instant: what it held then, if it existed.
      auto pre = s.preimages.find(key_of(r));
      if (pre != s.preimages.end()) out->add(pre->blob.get());
    }
  }
  for (const Slot& slot : s.preimages) out->kept.push_back(std::move(slot.blob));
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

std::vector<BlobRef> RecordStore::release_snapshot() {
  snapshot_pinned_.store(false, std::memory_order_release);
  std::vector<BlobRef> released;
  for (auto& sp : shards_) {
    std::lock_guard lk(sp->mu);
    for (BlobRef& b : sp->retired) released.push_back(std::move(b));
    sp->retired.clear();
  }
  return released;
}

}  // namespace cv::node
