// Which version of a key wins is one rule (shm/record_order.h): the serving
// node's store and the target's consolidation pick the same survivor, in
// whatever order the versions reach them, ties included.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "node/record_store.h"
#include "shm/backup_reader.h"
#include "shm/backup_writer.h"
#include "shm/record_order.h"
#include "target/consolidator.h"

namespace cv {
namespace {

using shm::RecordVersion;

struct Version {
  std::string value;
  uint64_t version, timestamp;
  bool tombstone;
};

// Versions of one key that differ in one respect at a time.
const std::vector<Version> kVersions = {
    {"a", 1, 5, false}, {"b", 1, 5, false}, {"", 1, 5, true}, {"a", 1, 6, false},
    {"a", 2, 1, false}, {"z", 2, 1, false}, {"", 2, 1, true}, {"c", 3, 0, false},
};

RecordVersion view(const Version& v) { return {v.version, v.timestamp, v.tombstone, v.value}; }

TEST(RecordOrderTest, VersionThenTimestampThenTombstoneThenValue) {
  EXPECT_TRUE(shm::wins({2, 1, false, "a"}, {1, 9, true, "z"}));
  EXPECT_TRUE(shm::wins({1, 6, false, "a"}, {1, 5, true, "z"}));
  EXPECT_TRUE(shm::wins({1, 5, true, ""}, {1, 5, false, "z"}));
  EXPECT_TRUE(shm::wins({1, 5, false, "b"}, {1, 5, false, "a"}));
  EXPECT_EQ(shm::compare_versions({1, 5, false, "a"}, {1, 5, false, "a"}), 0);
}

TEST(RecordOrderTest, IsAStrictTotalOrder) {
  for (const auto& a : kVersions)
    for (const auto& b : kVersions) {
      const int ab = shm::compare_versions(view(a), view(b));
      EXPECT_EQ(ab, -shm::compare_versions(view(b), view(a)));
      for (const auto& c : kVersions)
        if (ab > 0 && shm::compare_versions(view(b), view(c)) > 0)
          EXPECT_GT(shm::compare_versions(view(a), view(c)), 0);
    }
}

// The survivor in a node's store after applying the versions in this order.
Version StoreSurvivor(const std::vector<Version>& order) {
  node::RecordStore store(1, 0);
  for (const auto& v : order) store.apply(0, "k", v.value, v.version, v.timestamp, v.tombstone, shm::Policy::kNewer, nullptr);
  auto r = store.get(0, "k");
  return Version{r->value, r->version, r->timestamp, r->tombstone};
}

class RecordOrderFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cv-record-order-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The survivor of consolidating one copy per version (tombstones are
  // dropped from the file, so a tombstone survivor reads as absent).
  std::optional<Version> ConsolidatedSurvivor(const std::vector<Version>& copies) {
    std::vector<std::unique_ptr<fmt::BackupReader>> readers;
    for (size_t i = 0; i < copies.size(); ++i) {
      const std::string path = dir_ + "/copy" + std::to_string(files_) + "-" + std::to_string(i);
      fmt::FileHeaderInfo info;
      info.kind = fmt::kNodeCopy;
      std::unique_ptr<fmt::BackupWriter> w;
      EXPECT_TRUE(fmt::BackupWriter::create(path, info, &w));
      const auto& v = copies[i];
      EXPECT_TRUE(w->add({"k", v.value, v.version, v.timestamp, v.tombstone}));
      EXPECT_TRUE(w->finish(false));
      readers.emplace_back();
      EXPECT_TRUE(fmt::BackupReader::open(path, &readers.back()));
    }
    const std::string out = dir_ + "/merged" + std::to_string(files_++) + ".cvb";
    target::ConsolidationResult res;
    EXPECT_TRUE(target::consolidate(readers, fmt::FileHeaderInfo{}, out, nullptr, {}, &res));
    std::unique_ptr<fmt::BackupReader> merged;
    EXPECT_TRUE(fmt::BackupReader::open(out, &merged));
    fmt::RecordCursor c = merged->cursor(0);
    if (!c.valid()) return std::nullopt;
    const auto& r = c.record();
    return Version{std::string(r.value), r.version, r.timestamp, r.tombstone};
  }

  std::string dir_;
  int files_ = 0;
};

TEST_F(RecordOrderFiles, TheStoreAndTheConsolidatorPickTheSameSurvivorInAnyOrder) {
  // Pairs that tie on version and timestamp are where the rules used to part.
  const std::vector<std::pair<Version, Version>> pairs = {
      {{"a", 1, 5, false}, {"b", 1, 5, false}},
      {{"b", 1, 5, false}, {"", 1, 5, true}},
      {{"a", 1, 6, false}, {"z", 1, 5, false}},
      {{"z", 2, 1, false}, {"a", 2, 1, false}},
  };
  for (const auto& [x, y] : pairs) {
    const Version forward = StoreSurvivor({x, y});
    const Version backward = StoreSurvivor({y, x});
    EXPECT_EQ(forward.value, backward.value) << x.value << " vs " << y.value;
    EXPECT_EQ(forward.tombstone, backward.tombstone);
    const auto merged = ConsolidatedSurvivor({x, y});
    if (forward.tombstone) {
      EXPECT_FALSE(merged.has_value());
    } else {
      ASSERT_TRUE(merged.has_value());
      EXPECT_EQ(merged->value, forward.value);
      EXPECT_EQ(merged->version, forward.version);
    }
  }
}

}  // namespace
}  // namespace cv
