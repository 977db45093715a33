// Backup files are never overwritten: names are unique for ever (cluster,
// UTC time, an id that does not restart), and what interrupted backups leave
// behind is removed at `cluster up` and at the next backup.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/support/cli_runner.h"
#include "tests/support/cluster_verbs.h"

namespace cv::test {
namespace {

namespace fs = std::filesystem;

nlohmann::json Backup(TestCluster& c, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"backup", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  CliResult r = c.cli(args, {}, 120);
  EXPECT_EQ(r.rc, 0) << "backup: " << r.err;
  auto lines = parse_json_lines(r.out);
  return lines.empty() ? nlohmann::json::object() : lines.back();
}

uint64_t RecordsIn(const std::string& file) {
  CliResult r = run_cli({"inspect", file, "--json"});
  EXPECT_EQ(r.rc, 0) << r.err;
  auto lines = parse_json_lines(r.out);
  return lines.empty() ? 0 : lines.back().value("records", uint64_t(0));
}

TEST(BackupNamesTest, ABackupAfterTheClusterIsStartedAgainDoesNotReplaceTheFirst) {
  TestCluster c("bn");
  Up(c);
  ASSERT_EQ(c.cli({"load", "--records", "2000", "--value-size", "20"}).rc, 0);
  const nlohmann::json first = Backup(c);
  ASSERT_EQ(c.down().rc, 0);
  Up(c);
  ASSERT_EQ(c.cli({"put", "k", "v"}).rc, 0);
  const nlohmann::json second = Backup(c);

  const std::string a = first.value("file", ""), b = second.value("file", "");
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  EXPECT_NE(a, b);
  EXPECT_GT(second.value("id", 0), first.value("id", 0)) << "backup ids restarted";
  EXPECT_EQ(RecordsIn(a), 2000u) << a << " was overwritten";
  EXPECT_EQ(RecordsIn(b), 1u);
  const std::regex shape(c.name() + "-[0-9]{8}T[0-9]{6}Z-[0-9]+\\.cvb");
  EXPECT_TRUE(std::regex_match(fs::path(a).filename().string(), shape)) << a;
}

TEST(BackupNamesTest, TwoClustersBackingUpIntoOneDirectoryKeepBothFiles) {
  TestCluster x("bnx"), y("bny");
  Up(x);
  Up(y);
  ASSERT_EQ(x.cli({"load", "--records", "300", "--value-size", "20"}).rc, 0);
  ASSERT_EQ(y.cli({"load", "--records", "700", "--value-size", "20"}).rc, 0);
  const std::string out = x.tmp() / "shared-out";
  fs::create_directories(out);
  const std::string fx = Backup(x, {"--out", out}).value("file", "");
  const std::string fy = Backup(y, {"--out", out}).value("file", "");
  ASSERT_FALSE(fx.empty());
  ASSERT_FALSE(fy.empty());
  EXPECT_NE(fx, fy);
  EXPECT_EQ(RecordsIn(fx), 300u);
  EXPECT_EQ(RecordsIn(fy), 700u);
}

TEST(BackupNamesTest, LeftoversOfInterruptedBackupsAreRemovedAtClusterUpAndAtTheNextBackup) {
  TestCluster c("bnl");
  const std::string data = c.data_dir();
  for (const std::string& d : {data, data + "/backups", data + "/node0"}) {
    fs::create_directories(d);
    fs::permissions(d, fs::perms::owner_all);  // private, as a cluster's own directory is
  }
  // pid 4194304 is beyond pid_max: its writer is certainly gone.
  const std::string dead_temp = data + "/backups/" + c.name() + "-20260101T000000Z-3.cvb.tmp.4194304";
  const std::string old_copy = data + "/node0/backup-3.copy";
  const std::string sound = data + "/backups/kept.cvb";
  for (const auto& p : {dead_temp, old_copy, sound}) std::ofstream(p) << "leftover";
  Up(c);
  EXPECT_FALSE(fs::exists(dead_temp)) << "temp of an interrupted consolidation survived cluster up";
  EXPECT_FALSE(fs::exists(old_copy)) << "a node copy of an old backup survived cluster up";
  EXPECT_TRUE(fs::exists(sound)) << "cluster up removed a file that is not a leftover";

  // A temp that appears in an --out directory goes at the next backup into it.
  const std::string out = c.tmp() / "out";
  fs::create_directories(out);
  const std::string out_temp = out + "/other-20260101T000000Z-9.cvb.tmp.4194304";
  std::ofstream(out_temp) << "leftover";
  ASSERT_EQ(c.cli({"put", "k", "v"}).rc, 0);
  const std::string file = Backup(c, {"--out", out}).value("file", "");
  EXPECT_FALSE(fs::exists(out_temp));
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(out)) names.insert(e.path().string());
  EXPECT_EQ(names, std::set<std::string>{file});
  // Node copies of the finished backup are removed too (by the nodes, soon).
  EXPECT_TRUE(wait_until(
      [&] {
        std::error_code ec;
        for (int n = 0; n < 3; ++n)
          for (const auto& e : fs::directory_iterator(data + "/node" + std::to_string(n), ec))
            if (e.path().filename().string().find(".copy") != std::string::npos) return false;
        return true;
      },
      10000));
}

// A target that dies right after publishing its file, before recording it:
// the backup fails over, the next target publishes under a name of its own
// (no existing file is replaced, and none stands in its way), and the file
// the schedule does not name is removed.
TEST(BackupNamesTest, ATargetKilledRightAfterPublishingLeavesOneFileAfterFailover) {
  TestCluster c("bnf");
  Up(c, {"--targets", "2"}, {"CACHEVAULT_FAILPOINTS=consolidate.end@target0=crash"});
  ASSERT_EQ(c.cli({"load", "--records", "500", "--value-size", "20"}).rc, 0);
  const nlohmann::json j = Backup(c);
  const std::string file = j.value("file", "");
  ASSERT_FALSE(file.empty()) << j.dump();
  EXPECT_GE(j.value("failovers", 0), 1) << j.dump();
  EXPECT_NE(file.find("-r1.cvb"), std::string::npos) << file;
  EXPECT_EQ(RecordsIn(file), 500u);
  std::vector<std::string> cvb;
  for (const auto& e : fs::directory_iterator(c.data_dir() + "/backups")) cvb.push_back(e.path().string());
  EXPECT_EQ(cvb, std::vector<std::string>{file});
}

}  // namespace
}  // namespace cv::test
