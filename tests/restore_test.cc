// Restore as a user drives it through the CLI: a round trip into a cluster
// of another shape, the strict window against the default one, the three
// policies on a non-empty cluster, and bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "shm/backup_format.h"
#include "shm/backup_writer.h"
#include "tests/support/cli_runner.h"
#include "tests/support/cluster_verbs.h"

namespace cv::test {
namespace {

namespace fs = std::filesystem;

std::string BackupFile(TestCluster& c) {
  CliResult r = c.cli({"backup", "--json"}, {}, 120);
  EXPECT_EQ(r.rc, 0) << "backup: " << r.err;
  auto lines = parse_json_lines(r.out);
  if (lines.empty() || !lines.back().contains("file")) return "";
  return lines.back()["file"].get<std::string>();
}

nlohmann::json Restore(TestCluster& c, const std::string& file, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"restore", file, "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  CliResult r = c.cli(args, {}, 180);
  EXPECT_EQ(r.rc, 0) << "restore: " << r.err;
  auto lines = parse_json_lines(r.out);
  return lines.empty() ? nlohmann::json::object() : lines.back();
}

// ---------------------------------------------------------------------------

TEST(RestoreTest, RoundTripIntoAClusterOfAnotherShapeAndWeights) {
  TestCluster src("rsa");
  Up(src, {"--nodes", "3", "--replicas", "2"});
  ASSERT_EQ(src.cli({"load", "--records", "20000", "--value-size", "60"}).rc, 0);
  ASSERT_EQ(src.cli({"load", "--records", "3000", "--value-size", "90", "--seed", "2"}).rc, 0);
  ASSERT_EQ(src.cli({"put", "odd key with spaces", "line1\nline2 \"quoted\""}).rc, 0);
  for (int i = 0; i < 20000; i += 500) ASSERT_EQ(src.cli({"del", synthetic_key("key-", uint64_t(i))}).rc, 0);
  RecordMap a = Scan(src);
  ASSERT_EQ(a.size(), 20000u + 1u - 40u);
  const std::string file = BackupFile(src);
  ASSERT_FALSE(file.empty());
  ASSERT_EQ(src.down().rc, 0);

  TestCluster dst("rsb");
  const std::vector<double> weights{1, 2, 1, 2, 1};
  Up(dst, {"--nodes", "5", "--replicas", "2", "--weights", "1,2,1,2,1"});
  nlohmann::json j = Restore(dst, file);
  for (const char* f : {"records", "stale", "failed_retries", "seconds", "records_per_s"})
    EXPECT_TRUE(j.contains(f)) << "restore --json lacks '" << f << "': " << j.dump();
  EXPECT_EQ(j.value("records", uint64_t(0)), a.size()) << j.dump();

  RecordMap b = Scan(dst);
  EXPECT_EQ(diff_records(a, b, "scan before backup", "scan after restore"), "");

  // Every record on exactly R nodes.
  const uint64_t want = 2 * a.size();
  nlohmann::json st;
  EXPECT_TRUE(wait_until(
      [&] {
        st = dst.status();
        return serving_records_in_status(st) == want;
      },
      5000))
      << "records held by the serving nodes: " << serving_records_in_status(st) << ", want R x " << a.size() << " = "
      << want;
  // Shares follow the weights within 10%.
  double wsum = 0;
  for (double w : weights) wsum += w;
  const double total = double(serving_records_in_status(st));
  for (const auto& n : st["nodes"]) {
    if (n["role"] != "serving") continue;
    const int id = n["id"].get<int>();
    const double share = double(n["records"].get<uint64_t>()) / total;
    const double expected = weights[size_t(id)] / wsum;
    EXPECT_NEAR(share, expected, 0.1 * expected)
        << "node" << id << " (weight " << weights[size_t(id)] << ") holds " << n["records"] << " of " << total
        << " replicas";
  }
}

TEST(RestoreTest, StrictWindowAndDefaultWindowGiveTheSameResult) {
  TestCluster src("rsw");
  Up(src);
  ASSERT_EQ(src.cli({"load", "--records", "5000", "--value-size", "70"}).rc, 0);
  ASSERT_EQ(src.cli({"load", "--records", "1000", "--value-size", "70", "--seed", "3"}).rc, 0);
  const std::string file = BackupFile(src);
  ASSERT_FALSE(file.empty());
  RecordMap in_file = Inspect(file);
  ASSERT_EQ(in_file.size(), 5000u);

  TestCluster strict("rs1"), windowed("rs2");
  Up(strict);
  Up(windowed);
  nlohmann::json js = Restore(strict, file, {"--window", "1"});
  nlohmann::json jw = Restore(windowed, file);
  EXPECT_EQ(js.value("records", uint64_t(0)), 5000u);
  EXPECT_EQ(jw.value("records", uint64_t(0)), 5000u);
  std::cout << "[ info     ] --window 1: " << js.value("records_per_s", 0.0)
            << " records/s; default window: " << jw.value("records_per_s", 0.0) << " records/s\n";
  RecordMap s1 = Scan(strict), s2 = Scan(windowed);
  EXPECT_EQ(diff_records(s1, s2, "--window 1", "default window"), "");
  EXPECT_EQ(diff_records(in_file, s1, "backup file", "--window 1"), "");
  EXPECT_EQ(diff_records(in_file, s2, "backup file", "default window"), "");
}

// ---------------------------------------------------------------------------
// Policies: the cluster holds the backup's data, then is changed after the
// backup (keys updated, keys deleted, keys added); the backup is restored
// again under each policy.

class RestorePolicyTest : public ::testing::TestWithParam<const char*> {
 protected:
  static void SetUpTestSuite() {
    src_ = new TestCluster("rsp");
    CliResult r = src_->up();
    ASSERT_EQ(r.rc, 0) << r.err;
    ASSERT_EQ(src_->cli({"load", "--records", "3000", "--value-size", "60", "--key-prefix", "p-"}).rc, 0);
    ASSERT_EQ(src_->cli({"load", "--records", "500", "--value-size", "60", "--key-prefix", "p-", "--seed", "4"}).rc,
              0);
    file_ = new std::string(BackupFile(*src_));
    in_file_ = new RecordMap(Inspect(*file_));
  }
  static void TearDownTestSuite() {
    delete src_;
    delete file_;
    delete in_file_;
    src_ = nullptr;
  }
  static TestCluster* src_;
  static std::string* file_;
  static RecordMap* in_file_;
};
TestCluster* RestorePolicyTest::src_ = nullptr;
std::string* RestorePolicyTest::file_ = nullptr;
RecordMap* RestorePolicyTest::in_file_ = nullptr;

TEST_P(RestorePolicyTest, GivesWhatThePolicyPromises) {
  ASSERT_TRUE(file_ && !file_->empty() && in_file_->size() == 3000u) << "no source backup";
  const std::string policy = GetParam();
  const RecordMap& f = *in_file_;
  TestCluster c("rsq");
  Up(c);
  Restore(c, *file_);
  ASSERT_EQ(diff_records(f, Scan(c), "backup file", "first restore"), "");
  // After the backup: p-0..p-99 updated (p-0..p-499 were at version 2 in the
  // backup, so these go to 3), p-100..p-119 deleted, x-* added.
  ASSERT_EQ(c.cli({"load", "--records", "100", "--value-size", "40", "--key-prefix", "p-", "--seed", "9"}).rc, 0);
  std::set<std::string> deleted;
  for (int i = 100; i < 120; ++i) {
    deleted.insert(synthetic_key("p-", uint64_t(i)));
    ASSERT_EQ(c.cli({"del", synthetic_key("p-", uint64_t(i))}).rc, 0);
  }
  ASSERT_EQ(c.cli({"load", "--records", "30", "--value-size", "20", "--key-prefix", "x-"}).rc, 0);
  RecordMap before = Scan(c);
  ASSERT_EQ(before.size(), 3000u - 20u + 30u);
  ASSERT_GT(before[synthetic_key("p-", 5)]["version"].get<uint64_t>(), f.at(synthetic_key("p-", 5))["version"].get<uint64_t>());

  nlohmann::json j = Restore(c, *file_, {"--policy", policy});
  RecordMap after = Scan(c);
  RecordMap want;
  uint64_t want_stale = 0;
  if (policy == "newer") {
    // Everything the cluster holds is at least as new as the backup.
    want = before;
    want_stale = f.size();
  } else if (policy == "overwrite") {
    want = before;
    for (const auto& [k, r] : f) want[k] = r;
    want_stale = 0;
  } else {  // skip-existing: existing keys untouched, missing (deleted) ones added
    want = before;
    for (const auto& [k, r] : f)
      if (!before.count(k)) want[k] = r;
    want_stale = f.size() - deleted.size();
  }
  EXPECT_EQ(diff_records(want, after, "expected under --policy " + policy, "scan after restore"), "");
  // Spot checks that name the promise.
  const std::string updated = synthetic_key("p-", 7), gone = synthetic_key("p-", 105), added = synthetic_key("x-", 3);
  if (policy == "newer") {
    EXPECT_EQ(after[updated]["value"], before[updated]["value"]) << "newer: the update after the backup was lost";
    EXPECT_EQ(after.count(gone), 0u) << "newer: a key deleted after the backup came back";
  } else if (policy == "overwrite") {
    EXPECT_EQ(after[updated]["value"], f.at(updated)["value"]) << "overwrite: the backup's value did not win";
    EXPECT_EQ(after[updated]["version"], f.at(updated)["version"]);
    EXPECT_EQ(after.count(gone), 1u) << "overwrite: the backup's record of a deleted key was not restored";
  } else {
    EXPECT_EQ(after[updated]["value"], before[updated]["value"]) << "skip-existing: an existing key was changed";
    EXPECT_EQ(after.count(gone), 1u) << "skip-existing: a missing key was not added";
  }
  EXPECT_EQ(after[added], before[added]) << "a key that is not in the backup changed";
  EXPECT_EQ(j.value("stale", uint64_t(999999)), want_stale) << "restore --json: " << j.dump();
}

INSTANTIATE_TEST_SUITE_P(Policy, RestorePolicyTest, ::testing::Values("newer", "overwrite", "skip-existing"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

// ---------------------------------------------------------------------------
// Bad input: a clear error, the documented exit code, nothing written.

class RestoreBadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    src_ = new TestCluster("rsx");
    CliResult r = src_->up();
    ASSERT_EQ(r.rc, 0) << r.err;
    ASSERT_EQ(src_->cli({"load", "--records", "3000", "--value-size", "80"}).rc, 0);
    file_ = new std::string(BackupFile(*src_));
    bytes_ = new std::string(read_text(*file_));
  }
  static void TearDownTestSuite() {
    delete src_;
    delete file_;
    delete bytes_;
    src_ = nullptr;
  }
  void SetUp() override {
    if (!bytes_ || bytes_->size() < 10000) GTEST_SKIP() << "no source backup";
    Up(dst_);
  }
  std::string Write(const std::string& name, const std::string& content) {
    const std::string p = dir_ / name;
    std::ofstream(p, std::ios::binary).write(content.data(), std::streamsize(content.size()));
    return p;
  }
  void ExpectRefused(const std::string& path, int want, const std::string& mention = "") {
    CliResult r = dst_.cli({"restore", path, "--json"}, {}, 60);
    EXPECT_EQ(r.rc, want) << "restore " << path << "\nstderr: " << r.err << "\nstdout: " << r.out;
    EXPECT_FALSE(r.err.empty()) << "no message on stderr";
    EXPECT_NE(r.err.find(fs::path(path).filename().string()), std::string::npos)
        << "the message should name the file: " << r.err;
    if (!mention.empty()) {
      EXPECT_NE(r.err.find(mention), std::string::npos) << "expected '" << mention << "' in: " << r.err;
    }
    CliResult s = dst_.cli({"scan", "--json"});
    EXPECT_EQ(s.rc, 0) << s.err;
    EXPECT_EQ(parse_json_lines(s.out).size(), 0u) << "restore of a bad file wrote records";
  }

  static TestCluster* src_;
  static std::string* file_;
  static std::string* bytes_;
  TestCluster dst_{"rsy"};
  TempDir dir_;
};
TestCluster* RestoreBadInputTest::src_ = nullptr;
std::string* RestoreBadInputTest::file_ = nullptr;
std::string* RestoreBadInputTest::bytes_ = nullptr;

TEST_F(RestoreBadInputTest, CorruptFileIsRefused) {
  std::string damaged = *bytes_;
  damaged[damaged.size() / 2] = char(damaged[damaged.size() / 2] ^ 0x04);
  ExpectRefused(Write("flipped.cvb", damaged), 3, "offset");
}

TEST_F(RestoreBadInputTest, TruncatedFileIsRefused) {
  ExpectRefused(Write("truncated.cvb", bytes_->substr(0, bytes_->size() - 100)), 3);
}

TEST_F(RestoreBadInputTest, EmptyFileIsRefused) { ExpectRefused(Write("empty.cvb", ""), 3); }

TEST_F(RestoreBadInputTest, RandomFileIsRefused) {
  std::mt19937_64 rng(7);
  std::string junk(50000, '\0');
  for (auto& ch : junk) ch = char(rng());
  ExpectRefused(Write("random.cvb", junk), 3);
}

TEST_F(RestoreBadInputTest, MissingFileIsRefused) { ExpectRefused(dir_ / "missing.cvb", 1); }

TEST_F(RestoreBadInputTest, FileOfAnotherFormatVersionIsRefused) {
  std::string other = *bytes_;
  fmt::put_le<uint32_t>(other.data() + fmt::kHeaderVersionOffset, fmt::kFormatVersion + 1);
  // A well-formed header of the other version: its checksum matches.
  fmt::put_le<uint64_t>(other.data() + fmt::kHeaderChecksumOffset, fmt::file_header_checksum(other.data()));
  ExpectRefused(Write("version2.cvb", other), 3, "version");
}

TEST_F(RestoreBadInputTest, ANodeCopyIsNotABackupFile) {
  // A sound node copy (what a serving node sends its target), not a backup.
  const std::string path = Write("node-copy.cvb", "");
  std::filesystem::remove(path);
  std::unique_ptr<fmt::BackupWriter> w;
  fmt::FileHeaderInfo info;
  info.kind = fmt::kNodeCopy;
  ASSERT_TRUE(fmt::BackupWriter::create(path, info, &w));
  ASSERT_TRUE(w->add({"a-key", "a-value", 1, 1, false}));
  ASSERT_TRUE(w->add({"b-key", "", 2, 2, true}));
  ASSERT_TRUE(w->finish(false));
  ASSERT_EQ(run_cli({"verify", path}).rc, 0) << "the node copy should be sound";
  ExpectRefused(path, 3, "node copy");
}

TEST_F(RestoreBadInputTest, ClusterNotRunningIsRefused) {
  const std::string name = dst_.name() + "-not-running";
  CliResult r = run_cli({"restore", *file_, "--name", name});
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("not running"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(name), std::string::npos) << "the message should name the cluster: " << r.err;
}

}  // namespace
}  // namespace cv::test
