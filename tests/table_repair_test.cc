// A process killed inside a distribution table update leaves the seqlock
// odd: readers must not spin for ever. The next holder of the block lock
// republishes the staged table; readers give up after a deadline and keep
// their copy; a malformed table is refused. Then the same on a live cluster.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <thread>

#include "shm/block.h"
#include "shm/failpoints.h"
#include "shm/table_access.h"
#include "tests/support/cli_runner.h"

namespace cv::shm {
namespace {

using Owners = std::vector<std::array<uint16_t, kMaxReplicas>>;

// The whole table publish_table takes, from owners alone.
TableCopy table_copy(const Owners& o, uint32_t replicas) {
  TableCopy t;
  t.replicas = replicas;
  t.partitions = uint32_t(o.size());
  t.owners = o;
  t.joining.assign(o.size(), kNoNode);
  t.lost.assign(o.size(), 0);
  return t;
}

Owners table_of(uint32_t partitions, uint16_t shift) {
  Owners o(partitions);
  for (uint32_t p = 0; p < partitions; ++p) o[p] = {uint16_t((p + shift) % 3), uint16_t((p + shift + 1) % 3)};
  return o;
}

// Runs refresh_table on its own thread so a hang fails the test instead of
// stalling it; returns nullopt if it did not return in time.
std::optional<bool> refresh_within(const BlockLayout& b, TableCopy* copy, Status* why, int seconds = 20) {
  auto done = std::make_shared<std::promise<bool>>();
  auto result = done->get_future();
  std::thread([&b, copy, why, done] { done->set_value(refresh_table(b, copy, why)); }).detach();
  if (result.wait_for(std::chrono::seconds(seconds)) != std::future_status::ready) return std::nullopt;
  return result.get();
}

class TableRepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "tabletest" + std::to_string(getpid());
    ClusterConfig config{};
    config.serving_nodes = 3;
    config.targets = 1;
    config.replicas = 2;
    config.partitions = 64;
    Block::remove(name_);
    ASSERT_TRUE(Block::create(name_, config, getpid(), &block_));
    BlockLock g(b());
    publish_table(b(), table_copy(table_of(64, 0), 2));
  }
  void TearDown() override { Block::remove(name_); }
  BlockLayout& b() { return block_->layout(); }

  std::string name_;
  std::unique_ptr<Block> block_;
};

TEST_F(TableRepairTest, WriterKilledMidUpdateIsRepairedAndReadersReturn) {
  TableCopy before;
  ASSERT_TRUE(refresh_table(b(), &before));
  pid_t child = fork();
  if (child == 0) {
    (void)init_failpoints("writer", "table.publish=crash");
    BlockLock g(b());
    publish_table(b(), table_copy(table_of(64, 1), 2));  // dies halfway, holding the lock
    _exit(0);
  }
  int st = 0;
  waitpid(child, &st, 0);
  ASSERT_TRUE(WIFEXITED(st));
  ASSERT_EQ(WEXITSTATUS(st), kFailpointCrashExitCode);
  ASSERT_EQ(b().table.seq.load() & 1, 1u) << "the writer should have died with the sequence odd";

  TableCopy after = before;
  Status why;
  auto got = refresh_within(b(), &after, &why);
  ASSERT_TRUE(got.has_value()) << "refresh_table spun on the odd sequence";
  EXPECT_TRUE(*got) << why.message();
  EXPECT_EQ(b().table.seq.load() & 1, 0u);
  EXPECT_GT(after.epoch, before.epoch);
  EXPECT_EQ(after.owners, table_of(64, 1)) << "the repair republishes the table the writer had staged";
}

TEST_F(TableRepairTest, ReaderGivesUpWhileALiveWriterHoldsTheUpdate) {
  TableCopy mine;
  ASSERT_TRUE(refresh_table(b(), &mine));
  const uint64_t epoch = mine.epoch;
  std::promise<void> release;
  std::promise<void> holding;
  std::thread writer([&] {
    BlockLock g(b());
    b().table.seq.fetch_add(1);  // odd: a writer that is slow, not dead
    b().table.epoch.fetch_add(1);
    holding.set_value();
    release.get_future().wait();
    b().table.seq.fetch_add(1);
  });
  holding.get_future().wait();
  Status why;
  auto got = refresh_within(b(), &mine, &why);
  release.set_value();
  writer.join();
  ASSERT_TRUE(got.has_value()) << "refresh_table did not give up";
  EXPECT_FALSE(*got);
  EXPECT_EQ(why.code(), Code::kTimeout);
  EXPECT_EQ(mine.epoch, epoch) << "the copy held is kept";
  EXPECT_TRUE(refresh_table(b(), &mine)) << "and the next read after the writer is done takes the new table";
}

TEST_F(TableRepairTest, MalformedTablesAreRefusedPromptly) {
  TableCopy mine;
  ASSERT_TRUE(refresh_table(b(), &mine));
  const TableCopy kept = mine;
  auto corrupt = [&](auto change) {
    BlockLock g(b());
    b().table.seq.fetch_add(1);
    change();
    b().table.epoch.fetch_add(1);
    b().table.seq.fetch_add(1);
  };
  const uint32_t partitions = b().table.partitions;
  corrupt([&] { b().table.partitions = 99999; });
  Status why;
  auto got = refresh_within(b(), &mine, &why);
  ASSERT_TRUE(got.has_value()) << "refresh_table spun on a bad partition count";
  EXPECT_FALSE(*got);
  EXPECT_NE(why.message().find("partition count"), std::string::npos) << why.message();
  corrupt([&] {
    b().table.partitions = partitions;
    b().table.owners[5][1] = 60000;
  });
  got = refresh_within(b(), &mine, &why);
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(*got);
  EXPECT_NE(why.message().find("60000"), std::string::npos) << why.message();
  corrupt([&] { b().table.replicas = 0; });
  got = refresh_within(b(), &mine, &why);
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(*got);
  EXPECT_EQ(mine.owners, kept.owners);
}

}  // namespace
}  // namespace cv::shm

namespace cv::test {
namespace {

// On a live cluster: a process dies inside a table update holding the
// block lock. Clients still work, the launcher still supervises (a node
// killed afterwards is marked down and its partitions moved), and
// `cluster down` stops everything without having to kill the launcher.
TEST(TableRepairCluster, WriterKilledMidUpdateLeavesTheClusterWorking) {
  TestCluster c("tab");
  ASSERT_EQ(c.up({"--nodes", "3", "--replicas", "2", "--targets", "1"}).rc, 0);
  ASSERT_EQ(c.cli({"put", "before", "1"}).rc, 0);
  pid_t child = fork();
  if (child == 0) {
    std::unique_ptr<shm::Block> block;
    if (!shm::Block::attach(c.name(), &block)) _exit(3);
    (void)init_failpoints("writer", "table.publish=crash");
    shm::BlockLock g(block->layout());
    shm::TableCopy t;
    shm::refresh_table(block->layout(), &t);
    shm::publish_table(block->layout(), t);  // dies halfway, holding the lock
    _exit(0);
  }
  int st = 0;
  waitpid(child, &st, 0);
  ASSERT_EQ(WEXITSTATUS(st), kFailpointCrashExitCode);

  CliResult put = c.cli({"put", "after", "2"}, {}, 30);
  EXPECT_EQ(put.rc, 0) << put.err;
  CliResult get = c.cli({"get", "before"}, {}, 30);
  EXPECT_EQ(get.rc, 0) << get.err;
  EXPECT_NE(get.out.find("1"), std::string::npos);

  const int node2 = c.pid_of("serving", 2);
  ASSERT_GT(node2, 0);
  ASSERT_EQ(kill(node2, SIGKILL), 0);
  EXPECT_TRUE(c.wait_state("serving", 2, "down", 20000)) << "the launcher stopped supervising";
  put = c.cli({"put", "later", "3"}, {}, 30);
  EXPECT_EQ(put.rc, 0) << put.err;

  CliResult down = c.down();
  EXPECT_EQ(down.rc, 0) << down.err;
  EXPECT_EQ(down.err.find("did not stop"), std::string::npos) << down.err;
}

}  // namespace
}  // namespace cv::test
