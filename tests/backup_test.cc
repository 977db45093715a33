// Backup as a user drives it through the CLI: the consolidated file holds
// every live record once with its newest version, replicas that disagree
// are consolidated to the newest version, a hot backup keeps every write
// acknowledged before it was requested, two backups at once get a clear
// answer, and verify / inspect handle damaged files.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "tests/support/cli_runner.h"
#include "tests/support/cluster_verbs.h"

namespace cv::test {
namespace {

namespace fs = std::filesystem;

// Runs `backup --json` and returns its JSON object (empty object on failure).
nlohmann::json Backup(TestCluster& c, std::vector<std::string> extra = {}, CliResult* raw = nullptr) {
  std::vector<std::string> args{"backup", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  CliResult r = c.cli(args, {}, 180);
  if (raw) *raw = r;
  EXPECT_EQ(r.rc, 0) << "backup: " << r.err << r.out;
  auto lines = parse_json_lines(r.out);
  return lines.empty() ? nlohmann::json::object() : lines.back();
}

// ---------------------------------------------------------------------------

TEST(BackupTest, BackupHoldsEveryLiveRecordOnceWithItsNewestVersion) {
  TestCluster c("bk");
  Up(c, {"--nodes", "3", "--replicas", "2"});
  ASSERT_EQ(c.cli({"load", "--records", "6000", "--value-size", "80", "--seed", "1"}).rc, 0);
  // Newer versions for part of the keys, twice for some.
  ASSERT_EQ(c.cli({"load", "--records", "2500", "--value-size", "80", "--seed", "2"}).rc, 0);
  ASSERT_EQ(c.cli({"load", "--records", "700", "--value-size", "60", "--seed", "3"}).rc, 0);
  // Hand-written keys, one rewritten several times, one with odd bytes.
  ASSERT_EQ(c.cli({"put", "hand/one", "first"}).rc, 0);
  ASSERT_EQ(c.cli({"put", "hand/one", "second"}).rc, 0);
  ASSERT_EQ(c.cli({"put", "hand/one", "third"}).rc, 0);
  ASSERT_EQ(c.cli({"put", "hand/quote", "a \"quoted\"\ttab value"}).rc, 0);
  ASSERT_EQ(c.cli({"put", "hand/deleted", "soon gone"}).rc, 0);
  ASSERT_EQ(c.cli({"del", "hand/deleted"}).rc, 0);
  // Deleted keys: some loaded ones.
  std::set<std::string> deleted{"hand/deleted"};
  for (int i = 0; i < 6000; i += 97) {
    const std::string k = synthetic_key("key-", uint64_t(i));
    ASSERT_EQ(c.cli({"del", k}).rc, 0) << k;
    deleted.insert(k);
  }
  RecordMap before = Scan(c);
  ASSERT_EQ(before.size(), 6000u + 2u - (deleted.size() - 1)) << "scan before the backup";
  for (const auto& k : deleted) ASSERT_EQ(before.count(k), 0u) << k << " was deleted but scan shows it";
  EXPECT_EQ(before["hand/one"]["value"], "third");
  EXPECT_EQ(before["hand/one"]["version"], 3);

  nlohmann::json b = Backup(c);
  ASSERT_TRUE(b.contains("file")) << b.dump();
  EXPECT_EQ(b["state"], "consolidation completed");
  EXPECT_EQ(b["records"].get<uint64_t>(), before.size());
  const std::string file = b["file"].get<std::string>();
  ASSERT_TRUE(fs::exists(file)) << file;
  EXPECT_EQ(b["bytes"].get<uint64_t>(), fs::file_size(file));

  CliResult v = run_cli({"verify", file});
  EXPECT_EQ(v.rc, 0) << v.err;
  CliResult ij = run_cli({"inspect", file, "--json"});
  ASSERT_EQ(ij.rc, 0) << ij.err;
  nlohmann::json info = nlohmann::json::parse(ij.out, nullptr, false);
  EXPECT_EQ(info["records"].get<uint64_t>(), before.size());
  EXPECT_EQ(info["backup_id"], b["id"]);
  EXPECT_EQ(info["source"]["nodes"], 3);
  EXPECT_EQ(info["source"]["replicas"], 2);
  EXPECT_EQ(info["source"]["partitions"], 256);

  RecordMap in_file = Inspect(file);
  EXPECT_EQ(diff_records(before, in_file, "scan", "backup file"), "");
  for (const auto& k : deleted) EXPECT_EQ(in_file.count(k), 0u) << "deleted key " << k << " is in the backup";
  // The data did not change by being backed up.
  EXPECT_EQ(diff_records(before, Scan(c), "scan before", "scan after"), "");
}

// A replica that refuses writes (node.replica.apply@node2=error*) while the
// primary applies them: node2 keeps older versions, or values of keys the
// primary has since deleted. The backup must hold the newest version of
// each key and no deleted key. The replica that refuses writes is fenced.
TEST(BackupTest, ReplicaDisagreementConsolidatesToTheNewestVersion) {
  // A healthy source cluster gives a file to seed every replica with.
  std::string seed_file;
  RecordMap seeded;
  TestCluster src("bks");
  Up(src);
  ASSERT_EQ(src.cli({"load", "--records", "3000", "--value-size", "60", "--key-prefix", "dis-"}).rc, 0);
  {
    nlohmann::json b = Backup(src);
    ASSERT_TRUE(b.contains("file"));
    seed_file = b["file"].get<std::string>();
    seeded = Inspect(seed_file);
    ASSERT_EQ(seeded.size(), 3000u);
  }

  TestCluster c("bkd");
  Up(c, {"--nodes", "3", "--replicas", "2"}, {"CACHEVAULT_FAILPOINTS=node.replica.apply@node2=error*"});
  // Through entry node 2, node2 stores its own partitions itself (no replica
  // apply there) and forwards the rest: every replica gets the seed data.
  CliResult r = c.cli({"restore", seed_file, "--entry-node", "2", "--json"}, {}, 180);
  ASSERT_EQ(r.rc, 0) << "seeding restore: " << r.err;
  ASSERT_EQ(diff_records(seeded, Scan(c), "seed file", "seeded cluster"), "");
  ASSERT_TRUE(wait_until([&] { return c.serving_records() == 6000u; }, 5000))
      << "records held: " << c.serving_records() << ", want 6000 (R=2)";

  // Writes now reach node2 only where it is the primary; where it is the
  // secondary it refuses them and keeps the seed version.
  std::vector<std::string> put_ok, put_failed, del_ok, del_failed;
  std::string put_failure_message;
  for (int i = 0; i < 30; ++i) {
    const std::string k = synthetic_key("dis-", uint64_t(i));
    CliResult p = c.cli({"put", k, "newer-" + std::to_string(i)});
    ASSERT_TRUE(p.rc == 0 || p.rc == 1) << "put " << k << " rc " << p.rc << ": " << p.err;
    (p.rc == 0 ? put_ok : put_failed).push_back(k);
    if (p.rc != 0 && put_failure_message.empty()) put_failure_message = p.err;
  }
  for (int i = 30; i < 60; ++i) {
    const std::string k = synthetic_key("dis-", uint64_t(i));
    CliResult d = c.cli({"del", k});
    ASSERT_TRUE(d.rc == 0 || d.rc == 1) << "del " << k << " rc " << d.rc << ": " << d.err;
    (d.rc == 0 ? del_ok : del_failed).push_back(k);
  }
  std::cout << "[ info     ] puts acknowledged " << put_ok.size() << ", refused by a replica " << put_failed.size()
            << "; deletes acknowledged " << del_ok.size() << ", refused by a replica " << del_failed.size() << "\n"
            << "[ info     ] a put node2 refused reports: " << put_failure_message;
  // node2 kept failing forwarded writes: it is fenced, and its partitions
  // go on from the other replicas (a write it refused before that may have
  // been reported as failed, naming its key).
  ASSERT_TRUE(c.wait_state("serving", 2, "fenced")) << "node2 was not fenced";
  if (!put_failed.empty())
    EXPECT_NE(put_failure_message.find("dis-"), std::string::npos) << "the failed put should name its key";

  RecordMap before = Scan(c);
  for (int i = 30; i < 60; ++i)
    EXPECT_EQ(before.count(synthetic_key("dis-", uint64_t(i))), 0u) << "deleted key visible in scan";
  for (const auto& k : put_failed) {
    // The primary applied it: the newest version is the new value.
    ASSERT_TRUE(before.count(k)) << k;
    EXPECT_GT(before[k]["version"].get<uint64_t>(), seeded[k]["version"].get<uint64_t>()) << k;
  }

  nlohmann::json b = Backup(c);
  ASSERT_TRUE(b.contains("file")) << b.dump();
  RecordMap in_file = Inspect(b["file"].get<std::string>());
  EXPECT_EQ(diff_records(before, in_file, "scan", "backup file"), "");
  for (int i = 30; i < 60; ++i) {
    const std::string k = synthetic_key("dis-", uint64_t(i));
    EXPECT_EQ(in_file.count(k), 0u) << "deleted key " << k << " came back from an older replica";
  }
  for (int i = 0; i < 30; ++i) {
    const std::string k = synthetic_key("dis-", uint64_t(i));
    ASSERT_TRUE(in_file.count(k)) << k;
    EXPECT_EQ(in_file[k]["value"], "newer-" + std::to_string(i)) << k << ": an older replica's version won";
    EXPECT_GT(in_file[k]["version"].get<uint64_t>(), seeded[k]["version"].get<uint64_t>()) << k;
  }
}

// A replica killed before writes: its partitions move to nodes that hold
// only what was written since; the backup still has every record, newest.
TEST(BackupTest, ReplicaLostBeforeWritesStillBacksUpEveryNewestRecord) {
  TestCluster c("bkl");
  Up(c, {"--nodes", "3", "--replicas", "2"});
  ASSERT_EQ(c.cli({"load", "--records", "4000", "--value-size", "60"}).rc, 0);
  const int pid = c.pid_of("serving", 1);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(c.wait_state("serving", 1, "down")) << "node1 not marked down";
  ASSERT_EQ(c.cli({"load", "--records", "1500", "--value-size", "60", "--seed", "7"}).rc, 0);
  std::vector<std::string> deleted;
  for (int i = 0; i < 4000; i += 151) {
    deleted.push_back(synthetic_key("key-", uint64_t(i)));
    ASSERT_EQ(c.cli({"del", deleted.back()}).rc, 0) << deleted.back();
  }
  RecordMap before = Scan(c);
  ASSERT_EQ(before.size(), 4000u - deleted.size());
  nlohmann::json b = Backup(c);
  ASSERT_TRUE(b.contains("file")) << b.dump();
  RecordMap in_file = Inspect(b["file"].get<std::string>());
  EXPECT_EQ(diff_records(before, in_file, "scan", "backup file"), "");
  for (const auto& k : deleted) EXPECT_EQ(in_file.count(k), 0u) << k;
}

// load --duration writes while the backup runs. Every write acknowledged
// before the backup request is in the file with at least that version.
// snapshot.start=delay widens the time between each node's snapshot instant
// and its copying of the records, so writes land in between.
TEST(BackupTest, HotBackupUnderLoadKeepsEveryWriteAcknowledgedBeforeTheRequest) {
  TestCluster c("bkh");
  Up(c, {"--nodes", "3", "--replicas", "2"}, {"CACHEVAULT_FAILPOINTS=snapshot.start=delay(500)"});
  ASSERT_EQ(c.cli({"load", "--records", "5000", "--value-size", "50", "--key-prefix", "base-"}).rc, 0);
  const std::string ack = c.tmp() / "acks.log";
  const std::string load_err = c.tmp() / "load.err";
  const int load = spawn_cli_capture(c.args({"load", "--records", "8000", "--value-size", "50", "--duration", "3",
                                             "--ack-log", ack}),
                                     {}, "/dev/null", load_err);
  ASSERT_GT(load, 0);
  ASSERT_TRUE(wait_until([&] { return count_lines(ack) > 20000; }, 10000))
      << "the load acknowledged only " << count_lines(ack) << " writes";
  const size_t acked_before = count_lines(ack);
  nlohmann::json b = Backup(c);
  const size_t acked_after = count_lines(ack);
  const int load_rc = wait_cli(load, 60);
  EXPECT_EQ(load_rc, 0) << read_text(load_err);
  ASSERT_TRUE(b.contains("file")) << b.dump();
  const size_t acked_total = count_lines(ack);
  std::cout << "[ info     ] " << acked_before << " writes acknowledged before the request, "
            << acked_after - acked_before << " while the backup ran, " << acked_total << " in all; backup took "
            << b["seconds"] << " s\n";
  ASSERT_GT(acked_after, acked_before) << "no write was acknowledged while the backup ran";

  std::map<std::string, uint64_t> want;
  for (const auto& line : first_lines(ack, acked_before)) {
    const size_t tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    uint64_t& v = want[line.substr(0, tab)];
    v = std::max<uint64_t>(v, std::stoull(line.substr(tab + 1)));
  }
  RecordMap in_file = Inspect(b["file"].get<std::string>());
  size_t missing = 0, older = 0;
  std::string example;
  for (const auto& [k, v] : want) {
    auto it = in_file.find(k);
    if (it == in_file.end()) {
      if (missing++ == 0 && example.empty()) example = k + " is missing";
      continue;
    }
    if (it->second["version"].get<uint64_t>() < v) {
      if (older++ == 0 && example.empty())
        example = k + " has version " + it->second["version"].dump() + ", acknowledged " + std::to_string(v);
    }
  }
  EXPECT_EQ(missing, 0u) << example;
  EXPECT_EQ(older, 0u) << example;
  for (int i = 0; i < 5000; i += 1) {
    if (!in_file.count(synthetic_key("base-", uint64_t(i)))) {
      ADD_FAILURE() << synthetic_key("base-", uint64_t(i)) << " (loaded before the backup) is missing";
      break;
    }
  }
  EXPECT_EQ(in_file.size(), 5000u + 8000u);
}

// Two backups at once: one runs, the other is refused naming the running one.
TEST(BackupTest, TwoConcurrentBackupsOneRunsTheOtherIsRefusedNamingIt) {
  TestCluster c("bkc");
  Up(c, {}, {"CACHEVAULT_FAILPOINTS=snapshot.end=delay(2500)"});
  ASSERT_EQ(c.cli({"load", "--records", "3000", "--value-size", "60"}).rc, 0);
  RecordMap before = Scan(c);
  const std::string out1 = c.tmp() / "b1.out", err1 = c.tmp() / "b1.err";
  const int first = spawn_cli_capture(c.args({"backup", "--json"}), {}, out1, err1);
  ASSERT_GT(first, 0);
  uint64_t running = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        nlohmann::json st = c.status();
        if (!st.contains("schedules")) return false;
        for (const auto& s : st["schedules"])
          if (s["state"] != "consolidation completed" && s["state"] != "failed") running = s["id"].get<uint64_t>();
        return running != 0;
      },
      10000))
      << "the first backup never showed up in status";
  CliResult second = c.cli({"backup", "--json"}, {}, 60);
  EXPECT_EQ(second.rc, 1) << second.out << second.err;
  EXPECT_NE(second.err.find("backup " + std::to_string(running)), std::string::npos)
      << "the refusal should name the running backup " << running << ": " << second.err;
  EXPECT_NE(second.err.find("running"), std::string::npos) << second.err;
  EXPECT_EQ(wait_cli(first, 120), 0) << read_text(err1);
  auto lines = parse_json_lines(read_text(out1));
  ASSERT_FALSE(lines.empty()) << read_text(err1);
  EXPECT_EQ(lines.back()["id"].get<uint64_t>(), running);
  EXPECT_EQ(diff_records(before, Inspect(lines.back()["file"].get<std::string>()), "scan", "backup file"), "");
  // Once it is over a new backup is accepted.
  nlohmann::json third = Backup(c);
  EXPECT_EQ(third.value("state", ""), "consolidation completed");
}

// ---------------------------------------------------------------------------
// verify and inspect on damaged files.

class BadFileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new TestCluster("bkf");
    CliResult r = cluster_->up();
    ASSERT_EQ(r.rc, 0) << r.err;
    ASSERT_EQ(cluster_->cli({"load", "--records", "3000", "--value-size", "100"}).rc, 0);
    CliResult b = cluster_->cli({"backup"});
    ASSERT_EQ(b.rc, 0) << b.err;
    good_ = new std::string(b.out.substr(0, b.out.find('\n')));
    bytes_ = new std::string(read_text(*good_));
    ASSERT_GT(bytes_->size(), 3000u * 100u);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete good_;
    delete bytes_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (bytes_ == nullptr || bytes_->empty()) GTEST_SKIP() << "no backup file to damage";
  }
  std::string Write(const std::string& name, const std::string& content) {
    const std::string p = dir_ / name;
    std::ofstream(p, std::ios::binary).write(content.data(), std::streamsize(content.size()));
    return p;
  }
  // verify, inspect, inspect --json and inspect --records all refuse path
  // with exit code want and a message on stderr naming the file, no crash,
  // and nothing but the message.
  void ExpectRefused(const std::string& path, int want, const std::string& mention = "") {
    for (auto args : std::vector<std::vector<std::string>>{
             {"verify", path}, {"inspect", path}, {"inspect", path, "--json"}, {"inspect", path, "--records"}}) {
      CliResult r = run_cli(args, {}, 30);
      const std::string what = args[0] + (args.size() > 2 ? " " + args[2] : "");
      EXPECT_EQ(r.rc, want) << what << " " << path << "\nstderr: " << r.err << "\nstdout: " << r.out.substr(0, 300);
      EXPECT_LT(r.rc, 124) << what << " crashed or hung";
      EXPECT_FALSE(r.err.empty()) << what << ": no message on stderr";
      EXPECT_NE(r.err.find(fs::path(path).filename().string()), std::string::npos)
          << what << ": the message should name the file: " << r.err;
      if (!mention.empty()) {
        EXPECT_NE(r.err.find(mention), std::string::npos) << what << ": expected '" << mention << "' in: " << r.err;
      }
      EXPECT_EQ(r.out.find("\"key\""), std::string::npos) << what << " printed records of a bad file";
    }
  }

  static TestCluster* cluster_;
  static std::string* good_;
  static std::string* bytes_;
  TempDir dir_;
};
TestCluster* BadFileTest::cluster_ = nullptr;
std::string* BadFileTest::good_ = nullptr;
std::string* BadFileTest::bytes_ = nullptr;

TEST_F(BadFileTest, TheIntactFileIsAccepted) {
  const std::string p = Write("intact.cvb", *bytes_);
  CliResult v = run_cli({"verify", p});
  EXPECT_EQ(v.rc, 0) << v.err;
  EXPECT_EQ(parse_json_lines(run_cli({"inspect", p, "--records"}).out).size(), 3000u);
}

TEST_F(BadFileTest, TruncatedFileIsCorrupt) {
  ExpectRefused(Write("trunc-tail.cvb", bytes_->substr(0, bytes_->size() - 1)), 3);
  ExpectRefused(Write("trunc-half.cvb", bytes_->substr(0, bytes_->size() / 2)), 3);
  ExpectRefused(Write("trunc-header.cvb", bytes_->substr(0, 40)), 3);
}

TEST_F(BadFileTest, OneFlippedBitInABlockIsCorruptWithItsOffset) {
  // Inside the first block's payload, in the middle, and in the last block.
  for (size_t at : {size_t(64 + 20 + 50), bytes_->size() / 2, bytes_->size() - 400}) {
    std::string damaged = *bytes_;
    damaged[at] = char(damaged[at] ^ 0x10);
    ExpectRefused(Write("flip-" + std::to_string(at) + ".cvb", damaged), 3, "offset");
  }
}

TEST_F(BadFileTest, EmptyFileIsCorrupt) { ExpectRefused(Write("empty.cvb", ""), 3); }

TEST_F(BadFileTest, RandomBytesAreCorrupt) {
  std::mt19937_64 rng(42);
  std::string junk(200000, '\0');
  for (auto& ch : junk) ch = char(rng());
  ExpectRefused(Write("random.cvb", junk), 3);
  // Random bytes behind a valid header.
  std::string tail = bytes_->substr(0, 64) + junk;
  ExpectRefused(Write("random-tail.cvb", tail), 3);
}

TEST_F(BadFileTest, MissingFileFailsWithExitOne) { ExpectRefused(dir_ / "no-such-file.cvb", 1); }

TEST_F(BadFileTest, DirectoryIsRefused) {
  const std::string d = dir_ / "a-directory.cvb";
  fs::create_directory(d);
  ExpectRefused(d, 3);
}

}  // namespace
}  // namespace cv::test
