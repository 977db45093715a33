// The one I/O layer under a failing disk: ENOSPC, EIO or a failed fsync at
// any step of writing a backup file, a restore checkpoint or a milestone.
// Each time the operation fails with an error naming the step and the path,
// no file that looks sound is left under the final name, no temp file is
// left, and what was published before is still there, unchanged.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "client/restore_checkpoint.h"
#include "shm/backup_reader.h"
#include "shm/backup_writer.h"
#include "shm/file_env.h"
#include "target/consolidator.h"
#include "target/milestones.h"
#include "tests/support/faulty_file_env.h"

namespace cv::test {
namespace {

using shm::FileOp;

class FileEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cv-file-env-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  // A backup file of n records written through env.
  Status WriteBackup(const std::string& path, int n, shm::FileEnv& env) {
    fmt::FileHeaderInfo info;
    info.kind = fmt::kConsolidated;
    std::unique_ptr<fmt::BackupWriter> w;
    if (Status s = fmt::BackupWriter::create(path, info, &w, env); !s) return s;
    const std::string value(2000, 'v');
    for (int i = 0; i < n; ++i) {
      char key[32];
      snprintf(key, sizeof key, "key-%08d", i);
      if (Status s = w->add({key, value, 1, 1, false}); !s) return s;
    }
    return w->finish(/*durable=*/true);
  }
  uint64_t RecordsIn(const std::string& path) {
    std::unique_ptr<fmt::BackupReader> r;
    if (!fmt::BackupReader::open(path, &r) || !r->verify_all()) return UINT64_MAX;
    return r->record_count();
  }
  // Expects a failed write of `path` to have left nothing behind.
  void ExpectNothingLeft(const Status& s, const std::string& step, int err) {
    EXPECT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find(step), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(strerror(err)), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(dir_), std::string::npos) << "the error names the path: " << s.message();
    EXPECT_TRUE(Entries().empty()) << Entries().front();
  }

  std::string dir_;
  FaultyFileEnv env_;
};

TEST_F(FileEnvTest, PublishingNeverReplacesAnExistingFile) {
  const std::string path = dir_ + "/b.cvb";
  std::ofstream(path) << "an earlier backup";
  int fd = -1;
  const std::string temp = path + ".tmp";
  ASSERT_TRUE(env_.open(temp, O_WRONLY | O_CREAT | O_EXCL, 0600, &fd));
  ASSERT_TRUE(env_.write_all(fd, temp, "new", 3));
  Status s = shm::publish(env_, fd, temp, path, shm::Replace::kNever, true);
  EXPECT_NE(s.message().find(strerror(EEXIST)), std::string::npos) << s.message();
  std::ifstream in(path);
  std::string kept((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(kept, "an earlier backup");
  EXPECT_EQ(Entries(), std::vector<std::string>{"b.cvb"});
}

TEST_F(FileEnvTest, ABackupWriteFailingWithENOSPCLeavesNoFile) {
  for (int nth : {1, 2, 5}) {
    env_.fail_at(FileOp::kWrite, nth, ENOSPC);
    ExpectNothingLeft(WriteBackup(dir_ + "/b.cvb", 1000, env_), "write", ENOSPC);
  }
}

TEST_F(FileEnvTest, ABackupWhoseFsyncFailsIsNotPublished) {
  env_.fail_at(FileOp::kFsync, 1, EIO);
  ExpectNothingLeft(WriteBackup(dir_ + "/b.cvb", 100, env_), "fsync", EIO);
}

TEST_F(FileEnvTest, ABackupWhoseRenameFailsIsNotPublished) {
  env_.fail_at(FileOp::kRename, 1, EIO);
  ExpectNothingLeft(WriteBackup(dir_ + "/b.cvb", 100, env_), "rename", EIO);
}

TEST_F(FileEnvTest, ABackupWhoseDirectorySyncFailsIsTakenBack) {
  env_.fail_at(FileOp::kFsyncDir, 1, EIO);
  ExpectNothingLeft(WriteBackup(dir_ + "/b.cvb", 100, env_), "fsync of directory", EIO);
}

TEST_F(FileEnvTest, ABackupThatCannotBeOpenedSaysSo) {
  env_.fail_at(FileOp::kOpen, 1, ENOSPC);
  ExpectNothingLeft(WriteBackup(dir_ + "/b.cvb", 100, env_), "open", ENOSPC);
}

TEST_F(FileEnvTest, AFailedBackupLeavesTheEarlierOneAlone) {
  ASSERT_TRUE(WriteBackup(dir_ + "/first.cvb", 300, env_));
  env_.fail_at(FileOp::kWrite, 3, ENOSPC);
  EXPECT_FALSE(WriteBackup(dir_ + "/second.cvb", 1000, env_));
  EXPECT_EQ(Entries(), std::vector<std::string>{"first.cvb"});
  EXPECT_EQ(RecordsIn(dir_ + "/first.cvb"), 300u);
}

TEST_F(FileEnvTest, ConsolidationRefusedBeforeTheRenamePublishesNothing) {
  ASSERT_TRUE(WriteBackup(dir_ + "/copy", 50, env_));
  std::vector<std::unique_ptr<fmt::BackupReader>> copies(1);
  ASSERT_TRUE(fmt::BackupReader::open(dir_ + "/copy", &copies[0]));
  target::ConsolidationResult res;
  Status s = target::consolidate(
      copies, fmt::FileHeaderInfo{}, dir_ + "/out.cvb",
      [] { return Status::io_error("backup 7 ended while consolidating; file not published"); }, {}, &res);
  EXPECT_NE(s.message().find("not published"), std::string::npos) << s.message();
  EXPECT_EQ(Entries(), std::vector<std::string>{"copy"});
}

TEST_F(FileEnvTest, ACheckpointThatCannotBeWrittenKeepsTheEarlierOne) {
  const std::string path = dir_ + "/r.ckpt";
  client::RestoreCheckpoint c;
  c.file_checksum = 11;
  c.backup_id = 3;
  c.position = 4096;
  ASSERT_TRUE(client::write_checkpoint(path, c, env_));
  for (FileOp op : {FileOp::kWrite, FileOp::kFsync, FileOp::kRename}) {
    env_.fail_at(op, 1, op == FileOp::kWrite ? ENOSPC : EIO);
    client::RestoreCheckpoint later = c;
    later.position = 9000;
    Status s = client::write_checkpoint(path, later, env_);
    EXPECT_NE(s.message().find(shm::file_op_name(op)), std::string::npos) << s.message();
    client::RestoreCheckpoint got;
    ASSERT_TRUE(client::read_checkpoint(path, &got));
    EXPECT_EQ(got.position, 4096u) << "the progress recorded before is not lost";
    EXPECT_EQ(Entries(), std::vector<std::string>{"r.ckpt"});
  }
}

// The checkpoint's temp name is predictable ("<path>.tmp.<pid>"): another
// local user who can write the directory could plant a symlink there to make
// us create or truncate a file of their choosing. A planted link is removed,
// never followed; and one planted again right after that removal (the race)
// meets O_EXCL | O_NOFOLLOW: the write fails, naming the temp file, and the
// file the link points at is untouched.
class ReplantingEnv : public shm::FileEnv {
 public:
  ReplantingEnv(std::string temp, std::string target) : temp_(std::move(temp)), target_(std::move(target)) {}
  Status unlink(const std::string& path) override {
    Status s = FileEnv::unlink(path);
    if (path == temp_ && ::symlink(target_.c_str(), temp_.c_str()) != 0) return Status::io_error("replant");
    return s;
  }

 private:
  std::string temp_, target_;
};

TEST_F(FileEnvTest, ACheckpointIsNeverWrittenThroughASymlinkAtItsTempName) {
  const std::string path = dir_ + "/r.ckpt";
  const std::string victim = dir_ + "/victim";
  { std::ofstream(victim) << "precious"; }
  auto victim_text = [&] {
    std::ifstream in(victim);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string temp = path + ".tmp." + std::to_string(getpid());
  client::RestoreCheckpoint c;
  c.position = 77;

  ASSERT_EQ(symlink(victim.c_str(), temp.c_str()), 0);
  ASSERT_TRUE(client::write_checkpoint(path, c, shm::FileEnv::real()));
  EXPECT_EQ(victim_text(), "precious");
  client::RestoreCheckpoint got;
  ASSERT_TRUE(client::read_checkpoint(path, &got));
  EXPECT_EQ(got.position, 77u);

  ReplantingEnv racing(temp, victim);
  c.position = 99;
  Status s = client::write_checkpoint(path, c, racing);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find(temp), std::string::npos) << s.message();
  EXPECT_EQ(victim_text(), "precious");
  ASSERT_TRUE(client::read_checkpoint(path, &got));
  EXPECT_EQ(got.position, 77u) << "the checkpoint written before is kept";
  ::unlink(temp.c_str());

  // A dangling link (to a file not there yet) is not followed either.
  ReplantingEnv dangling(temp, dir_ + "/planted");
  EXPECT_FALSE(client::write_checkpoint(path, c, dangling));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/planted"));
  ::unlink(temp.c_str());
}

TEST_F(FileEnvTest, AMilestoneThatCannotBeWrittenLeavesNoHalfFile) {
  target::Milestone m{dir_, 5, "sent", "{\"id\":5}\n"};
  target::write_milestone(m, env_);
  ASSERT_EQ(Entries(), std::vector<std::string>{"5.json"});
  env_.fail_at(FileOp::kFsync, 1, EIO);
  target::write_milestone(target::Milestone{dir_, 5, "consolidation completed", "{\"id\":5,\"done\":1}\n"}, env_);
  std::ifstream in(dir_ + "/5.json");
  std::string kept((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(kept, "{\"id\":5}\n");
  EXPECT_EQ(Entries(), std::vector<std::string>{"5.json"});
}

}  // namespace
}  // namespace cv::test
