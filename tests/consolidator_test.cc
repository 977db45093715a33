// Consolidation on its own: the merge of node copies picks, for every key,
// the same survivor a plain map of all records would, whatever the keys
// look like (long keys sharing their first 16 bytes, keys that are prefixes
// of others, zero bytes) and however many ranges the merge is cut into.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "shm/backup_reader.h"
#include "shm/backup_writer.h"
#include "target/consolidator.h"

namespace cv::target {
namespace {

struct Rec {
  std::string value;
  uint64_t version = 0, timestamp = 0;
  bool tombstone = false;
};
using Copy = std::map<std::string, Rec>;

// Mirrors the documented rule: higher (version, timestamp), then the
// tombstone, then the larger value.
bool Wins(const Rec& a, const Rec& b) {
  if (a.version != b.version) return a.version > b.version;
  if (a.timestamp != b.timestamp) return a.timestamp > b.timestamp;
  if (a.tombstone != b.tombstone) return a.tombstone;
  return a.value > b.value;
}

class ConsolidatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cv-consolidator-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  int merged_ = 0;

  std::string Write(const Copy& copy, int node) {
    const std::string path = dir_ + "/copy-" + std::to_string(node);
    fmt::FileHeaderInfo info;
    info.kind = fmt::kNodeCopy;
    info.node_id = uint32_t(node);
    std::unique_ptr<fmt::BackupWriter> w;
    EXPECT_TRUE(fmt::BackupWriter::create(path, info, &w));
    for (const auto& [k, r] : copy)
      EXPECT_TRUE(w->add(fmt::RecordView{k, r.value, r.version, r.timestamp, r.tombstone}));
    EXPECT_TRUE(w->finish(false));
    return path;
  }

  // Consolidates the copies and returns the file's records.
  std::map<std::string, Rec> Consolidate(const std::vector<Copy>& copies) {
    std::vector<std::string> paths;
    for (size_t i = 0; i < copies.size(); ++i) paths.push_back(Write(copies[i], int(i)));
    std::vector<std::unique_ptr<fmt::BackupReader>> readers;
    EXPECT_TRUE(open_copies(paths, std::vector<uint64_t>(paths.size(), UINT64_MAX), &readers));
    fmt::FileHeaderInfo info;
    ConsolidationResult res;
    // A fresh name each time: a backup file is never replaced.
    const std::string out = dir_ + "/merged-" + std::to_string(++merged_) + ".cvb";
    EXPECT_TRUE(consolidate(readers, info, out, nullptr, {}, &res));
    std::unique_ptr<fmt::BackupReader> merged;
    EXPECT_TRUE(fmt::BackupReader::open(out, &merged));
    EXPECT_TRUE(merged->verify_all());
    std::map<std::string, Rec> got;
    for (fmt::RecordCursor c = merged->cursor(0); c.valid(); c.next()) {
      const auto& r = c.record();
      got[std::string(r.key)] = Rec{std::string(r.value), r.version, r.timestamp, r.tombstone};
    }
    EXPECT_EQ(res.records, got.size());
    return got;
  }

  static std::map<std::string, Rec> Expected(const std::vector<Copy>& copies) {
    std::map<std::string, Rec> best;
    for (const auto& copy : copies)
      for (const auto& [k, r] : copy) {
        auto it = best.find(k);
        if (it == best.end() || Wins(r, it->second)) best[k] = r;
      }
    std::erase_if(best, [](const auto& kv) { return kv.second.tombstone; });
    return best;
  }

  std::string dir_;
};

TEST_F(ConsolidatorTest, KeysOfEveryShapeMergeAsAMapWould) {
  std::mt19937_64 rng(7);
  std::vector<std::string> keys;
  // Short keys, keys exactly 16 bytes, long keys equal in their first 16
  // bytes and differing late, keys that are prefixes of others, zero bytes.
  for (int i = 0; i < 3000; ++i) keys.push_back("key-" + std::to_string(i));
  const std::string head16 = "0123456789abcdef";
  for (int i = 0; i < 500; ++i) keys.push_back(head16 + std::to_string(i));
  keys.push_back(head16);
  keys.push_back(head16.substr(0, 15));
  keys.push_back(head16 + std::string(1, '\0'));
  keys.push_back(std::string("a\0b", 3));
  keys.push_back(std::string("a\0", 2));
  keys.push_back("a");
  for (int i = 0; i < 300; ++i) keys.push_back(std::string(40, 'z') + std::to_string(i));

  std::vector<Copy> copies(3);
  for (const auto& k : keys)
    for (auto& copy : copies) {
      if (rng() % 4 == 0) continue;  // not every copy holds every key
      Rec r;
      r.version = 1 + rng() % 3;
      r.timestamp = 100 + rng() % 2;
      r.tombstone = rng() % 10 == 0;
      // Values of some size spread the copies over many blocks, so the
      // merge is cut into many ranges.
      r.value = r.tombstone ? "" : std::string(200, char('a' + rng() % 3));
      copy[k] = r;
    }
  const auto got = Consolidate(copies);
  const auto want = Expected(copies);
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [k, r] : want) {
    auto it = got.find(k);
    ASSERT_NE(it, got.end()) << "missing key of " << k.size() << " bytes";
    EXPECT_EQ(it->second.value, r.value);
    EXPECT_EQ(it->second.version, r.version);
    EXPECT_EQ(it->second.timestamp, r.timestamp);
  }
}

TEST_F(ConsolidatorTest, IdenticalReplicasGiveOneRecordEach) {
  Copy c;
  for (int i = 0; i < 20000; ++i) c["k" + std::to_string(i)] = Rec{"value", 1, 5, false};
  const auto got = Consolidate({c, c, c});
  EXPECT_EQ(got.size(), 20000u);
}

}  // namespace
}  // namespace cv::target
