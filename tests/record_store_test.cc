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
