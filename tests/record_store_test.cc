// A serving node's store: version ordering, restore policies, the memory cap,
// and the point-in-time snapshot taken while writes continue.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <thread>

#include "node/record_store.h"

namespace cv::node {
namespace {

class RecordStoreTest : public ::testing::Test {
 protected:
  RecordStore::Apply Put(const std::string& k, const std::string& v, uint64_t version, uint64_t ts = 1,
                         shm::Policy policy = shm::Policy::kNewer, bool tomb = false) {
    return store_.apply(0, k, v, version, ts, tomb, policy, &existing_);
  }
  std::string Value(const std::string& k) {
    auto r = store_.get(0, k);
    return r ? r->value : "<absent>";
  }
  std::map<std::string, std::string> Snapshot() {
    SnapshotRecords snap;
    for (uint32_t p = 0; p < store_.partitions(); ++p) store_.capture(p, &snap);
    store_.end_snapshot();
    std::map<std::string, std::string> m;
    for (const auto& e : snap.entries) m[std::string(snap.key(e))] = std::string(snap.value(e));
    store_.release_snapshot();
    return m;
  }

  RecordStore store_{4, 0};
  StoredRecord existing_;
};

TEST_F(RecordStoreTest, NewerVersionWinsOlderIsStale) {
  EXPECT_EQ(Put("k", "v2", 2), RecordStore::Apply::kApplied);
  EXPECT_EQ(Put("k", "v1", 1), RecordStore::Apply::kStale);
  EXPECT_EQ(existing_.version, 2u);
  EXPECT_EQ(Value("k"), "v2");
  EXPECT_EQ(Put("k", "v3", 3), RecordStore::Apply::kApplied);
  EXPECT_EQ(Value("k"), "v3");
}

TEST_F(RecordStoreTest, SameVersionIsOrderedByTimestamp) {
  EXPECT_EQ(Put("k", "a", 5, 100), RecordStore::Apply::kApplied);
  EXPECT_EQ(Put("k", "b", 5, 99), RecordStore::Apply::kStale);
  EXPECT_EQ(Put("k", "c", 5, 101), RecordStore::Apply::kApplied);
  EXPECT_EQ(Put("k", "c", 5, 101), RecordStore::Apply::kStale);  // a re-sent write is harmless
  EXPECT_EQ(Value("k"), "c");
}

TEST_F(RecordStoreTest, OverwriteAndSkipExistingPolicies) {
  Put("k", "new", 9);
  EXPECT_EQ(Put("k", "old", 1, 1, shm::Policy::kOverwrite), RecordStore::Apply::kApplied);
  EXPECT_EQ(Value("k"), "old");
  EXPECT_EQ(Put("k", "other", 50, 1, shm::Policy::kSkipExisting), RecordStore::Apply::kStale);
  EXPECT_EQ(Put("fresh", "x", 1, 1, shm::Policy::kSkipExisting), RecordStore::Apply::kApplied);
}

TEST_F(RecordStoreTest, MemoryCapRefusesWritesAsFull) {
  RecordStore capped(1, 100);
  EXPECT_EQ(capped.apply(0, "a", std::string(50, 'x'), 1, 1, false, shm::Policy::kNewer, nullptr),
            RecordStore::Apply::kApplied);
  EXPECT_EQ(capped.apply(0, "b", std::string(60, 'x'), 1, 1, false, shm::Policy::kNewer, nullptr),
            RecordStore::Apply::kFull);
  EXPECT_FALSE(capped.get(0, "b").has_value());
  EXPECT_EQ(capped.records(), 1u);
}

TEST_F(RecordStoreTest, KeysOfEveryLengthKeepTheirBytes) {
  // Keys live in the value's blob: every length up to the 1 KiB limit, zero
  // bytes included, must come back whole from get, for_each and a snapshot,
  // also after an overwrite and after a refused insert left no slot behind.
  std::map<std::string, std::string> want;
  for (size_t len : {1, 15, 16, 17, 100, 1024}) {
    std::string k(len, 'k');
    k[len / 2] = '\0';
    k.back() = char('0' + len % 10);
    want[k] = "v" + std::to_string(len);
    ASSERT_EQ(Put(k, "old", 1), RecordStore::Apply::kApplied);
    ASSERT_EQ(Put(k, want[k], 2), RecordStore::Apply::kApplied);
  }
  RecordStore capped(1, 2000);
  const std::string big(1024, 'b');
  EXPECT_EQ(capped.apply(0, big, std::string(1500, 'x'), 1, 1, false, shm::Policy::kNewer, nullptr),
            RecordStore::Apply::kFull);
  EXPECT_EQ(capped.apply(0, big, "fits", 1, 1, false, shm::Policy::kNewer, nullptr), RecordStore::Apply::kApplied);
  EXPECT_EQ(capped.get(0, big)->value, "fits");
  EXPECT_EQ(capped.records(), 1u);

  for (const auto& [k, v] : want) EXPECT_EQ(Value(k), v) << k.size();
  std::map<std::string, std::string> seen;
  store_.for_each(0, [&](std::string_view k, const RecordRef& r) { seen[std::string(k)] = std::string(r.value); });
  EXPECT_EQ(seen, want);
  store_.begin_snapshot();
  EXPECT_EQ(Snapshot(), want);
}

TEST_F(RecordStoreTest, SnapshotSeesTheStateAtItsInstant) {
  Put("a", "a1", 1);
  Put("b", "b1", 1);
  store_.begin_snapshot();
  Put("a", "a2", 2);  // after the instant: the snapshot keeps a1
  Put("c", "c1", 1);  // new after the instant: not in the snapshot
  Put("b", "b2", 2, 1, shm::Policy::kNewer, true);  // deleted after the instant
  auto snap = Snapshot();
  EXPECT_EQ(snap, (std::map<std::string, std::string>{{"a", "a1"}, {"b", "b1"}}));
  EXPECT_EQ(Value("a"), "a2");
}

TEST_F(RecordStoreTest, SnapshotUnderConcurrentWritesNeverTearsOrLeaks) {
  for (int i = 0; i < 2000; ++i) store_.apply(uint32_t(i % 4), "k" + std::to_string(i), "v0", 1, 1, false, shm::Policy::kNewer, nullptr);
  store_.begin_snapshot();
  std::thread writer([this] {
    for (int round = 2; round < 6; ++round)
      for (int i = 0; i < 2000; ++i)
        store_.apply(uint32_t(i % 4), "k" + std::to_string(i), "v" + std::to_string(round), uint64_t(round), 1, false,
                     shm::Policy::kNewer, nullptr);
  });
  SnapshotRecords snap;
  for (uint32_t p = 0; p < 4; ++p) store_.capture(p, &snap);
  writer.join();
  store_.end_snapshot();
  ASSERT_EQ(snap.entries.size(), 2000u);
  for (const auto& e : snap.entries) {
    EXPECT_EQ(snap.value(e), "v0");
    EXPECT_EQ(e.blob->version(), 1u);
  }
  store_.release_snapshot();
}

TEST_F(RecordStoreTest, CopiedValuesOutliveOverwritesUntilReleased) {
  // Values a snapshot copied stay readable while writes replace them (run
  // under AddressSanitizer, a value freed too early is an error).
  for (int i = 0; i < 500; ++i) Put("k" + std::to_string(i), std::string(64, 'a'), 1);
  store_.begin_snapshot();
  SnapshotRecords snap;
  store_.capture(0, &snap);
  for (int i = 0; i < 500; ++i) Put("k" + std::to_string(i), std::string(64, 'b'), 2);
  for (int i = 0; i < 500; ++i) Put("k" + std::to_string(i), std::string(64, 'c'), 3);
  for (uint32_t p = 1; p < store_.partitions(); ++p) store_.capture(p, &snap);
  store_.end_snapshot();
  for (int i = 0; i < 500; ++i) Put("k" + std::to_string(i), std::string(64, 'd'), 4);
  ASSERT_EQ(snap.entries.size(), 500u);
  for (const auto& e : snap.entries) {
    EXPECT_EQ(snap.value(e), std::string(64, 'a'));
    EXPECT_EQ(e.blob->version(), 1u);
  }
  store_.release_snapshot();
  EXPECT_EQ(Value("k7"), std::string(64, 'd'));
}

TEST_F(RecordStoreTest, SortPutsKeysInBytewiseOrder) {
  // Keys sharing long heads, keys past 16 bytes that differ late, empty
  // tails and high bytes: the radix sort must agree with std::string order.
  std::vector<std::string> keys;
  for (int i = 0; i < 3000; ++i) keys.push_back("key-" + std::to_string(1000000 + i * 7919 % 3000));
  for (int i = 0; i < 300; ++i) keys.push_back("a-very-long-shared-prefix-" + std::to_string(i % 300));
  for (int i = 0; i < 300; ++i) keys.push_back(std::string(1, char(0xF0 + i % 16)) + std::to_string(i));
  keys.push_back("k");
  keys.push_back(std::string("k\0", 2));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  for (const auto& k : keys) Put(k, "v", 1);
  store_.begin_snapshot();
  SnapshotRecords snap;
  store_.capture(0, &snap);
  store_.end_snapshot();
  snap.sort();
  std::vector<std::string> got;
  for (const auto& e : snap.entries) got.emplace_back(snap.key(e));
  store_.release_snapshot();
  EXPECT_EQ(got, keys);
}

}  // namespace
}  // namespace cv::node

namespace cv::node {
namespace {

// Expiry: kept with each version, counted, reclaimed lazily and by the
// sweep, never while a snapshot points at the records.
class RecordStoreExpiryTest : public ::testing::Test {
 protected:
  void Put(uint32_t p, const std::string& k, uint64_t expire_ms, uint64_t version = 1) {
    ASSERT_EQ(store_.apply(p, k, "value", version, 1, false, shm::Policy::kNewer, nullptr, expire_ms),
              RecordStore::Apply::kApplied);
  }
  static constexpr uint64_t kNow = 1'800'000'000'000ull;
  RecordStore store_{4, 0};
  const std::function<bool(uint32_t)> none_ = [](uint32_t) { return false; };
};

TEST_F(RecordStoreExpiryTest, ExpiryIsKeptAndCountedPerVersion) {
  Put(0, "a", kNow + 10);
  Put(0, "b", 0);
  EXPECT_EQ(store_.get(0, "a")->expire_ms, kNow + 10);
  EXPECT_EQ(store_.get(0, "b")->expire_ms, 0u);
  EXPECT_EQ(store_.expiring(), 1u);
  Put(0, "a", 0, 2);  // a newer version without expiry (PERSIST, SET)
  EXPECT_EQ(store_.expiring(), 0u);
  Put(0, "b", kNow + 5, 2);
  EXPECT_EQ(store_.expiring(), 1u);
  EXPECT_EQ(store_.get(0, "b")->value, "value");
}

TEST_F(RecordStoreExpiryTest, LazyReclaimForgetsOnlyExpiredRecords) {
  Put(1, "a", kNow - 1);
  Put(1, "b", kNow);  // expires after this very ms
  Put(1, "c", 0);
  EXPECT_TRUE(store_.erase_if_expired(1, "a", kNow));
  EXPECT_FALSE(store_.erase_if_expired(1, "b", kNow));
  EXPECT_FALSE(store_.erase_if_expired(1, "c", kNow));
  EXPECT_FALSE(store_.get(1, "a"));
  EXPECT_EQ(store_.records(), 2u);
  EXPECT_EQ(store_.bytes(), 2u * (1 + 5));
  EXPECT_EQ(store_.expiring(), 1u);
}

TEST_F(RecordStoreExpiryTest, SweepReclaimsExpiredRecordsEverywhereButWhereToldNot) {
  for (uint32_t p = 0; p < 4; ++p)
    for (int i = 0; i < 500; ++i) Put(p, "k" + std::to_string(i), i % 2 ? kNow - 1 : kNow + 1000);
  Put(3, "plain", 0);
  EXPECT_EQ(store_.records(), 2001u);
  uint64_t erased = 0;
  auto skip3 = [](uint32_t p) { return p == 3; };
  for (int round = 0; round < 1000 && erased < 750; ++round) erased += store_.sweep_expired(1'000'000, kNow, skip3);
  EXPECT_EQ(erased, 750u);
  EXPECT_EQ(store_.records(), 2001u - 750);
  EXPECT_EQ(store_.expiring(), 1250u);
  EXPECT_TRUE(store_.get(3, "k1"));  // partition 3 was skipped
  EXPECT_FALSE(store_.get(2, "k1"));
  EXPECT_TRUE(store_.get(2, "k2"));
  // Later, the rest has expired too; a pinned snapshot holds the sweep off.
  store_.begin_snapshot();
  EXPECT_EQ(store_.sweep_expired(1'000'000'000, kNow + 2000, none_), 0u);
  EXPECT_FALSE(store_.erase_if_expired(2, "k2", kNow + 2000));
  for (uint32_t p = 0; p < 4; ++p) {
    SnapshotRecords snap;
    store_.capture(p, &snap);
  }
  store_.end_snapshot();
  store_.release_snapshot();
  for (int round = 0; round < 1000 && store_.expiring() > 0; ++round)
    store_.sweep_expired(1'000'000, kNow + 2000, none_);
  EXPECT_EQ(store_.records(), 1u);
  EXPECT_EQ(store_.expiring(), 0u);
  EXPECT_TRUE(store_.get(3, "plain"));
}

TEST_F(RecordStoreExpiryTest, AnExpiredRecordIsAbsentToAPrimarysWriteButNotToAMovedCopy) {
  Put(0, "k", kNow - 1, 5);
  // A partition move brings an older copy: the expired newer one stays.
  EXPECT_EQ(store_.apply(0, "k", "old", 4, 1, false, shm::Policy::kNewer, nullptr, 0, 0), RecordStore::Apply::kStale);
  // A primary that forgot the key writes it anew (version 1): it goes in.
  EXPECT_EQ(store_.apply(0, "k", "new", 1, 2, false, shm::Policy::kNewer, nullptr, 0, kNow),
            RecordStore::Apply::kApplied);
  EXPECT_EQ(store_.get(0, "k")->value, "new");
  EXPECT_EQ(store_.expiring(), 0u);
}

}  // namespace
}  // namespace cv::node
