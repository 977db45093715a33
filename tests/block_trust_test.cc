// Bytes from the shared block are not trusted: random and malformed frames
// written into a live node's mailbox, and random values written into a
// schedule slot, are dropped and logged; no process dies, hangs or writes
// out of bounds, and the cluster keeps serving puts, gets and backups.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "shm/block.h"
#include "shm/mailbox.h"
#include "shm/messages.h"
#include "tests/support/cli_runner.h"
#include "tests/support/raw_block.h"

namespace cv::test {
namespace {

std::string frame(shm::MsgHeader h, const std::string& payload) {
  std::string f(reinterpret_cast<const char*>(&h), sizeof h);
  f += payload;
  f.resize((f.size() + 7) & ~size_t(7), '\0');
  return f;
}

std::string get_batch(const std::string& key) {
  shm::BatchBuilder b;
  shm::WireRecord r{uint16_t(key.size()), 0, 0, 0, 0, 0, 0, 0, 0};
  b.add(r, key, {});
  return std::string(b.finish());
}

// The frames a broken or hostile peer could publish, each one of the cases
// the node must survive, then random ones.
std::vector<std::string> bad_frames(std::mt19937_64& rng) {
  using shm::MsgHeader;
  using shm::MsgType;
  const uint16_t client = shm::kFirstClientMailbox + shm::kMaxClients - 1;  // nobody reads it
  std::vector<std::string> v;
  v.push_back(frame(MsgHeader{0, uint16_t(MsgType::kGet), client, 0, 0, 1}, ""));  // zero length
  v.push_back(frame(MsgHeader{32, uint16_t(MsgType::kGet), client, 0, 0xffffffffu, 2}, "12345678"));  // huge payload
  const std::string get = get_batch("some-key");
  v.push_back(frame(MsgHeader{uint32_t((sizeof(MsgHeader) + get.size() + 7) & ~size_t(7)), uint16_t(MsgType::kGet),
                              60000, 0, uint32_t(get.size()), 3},
                    get));  // a sender that cannot exist
  shm::BatchHeader huge{0xffffffffu, 0, 0, 0, 0, 0, 0};
  const std::string count(reinterpret_cast<const char*>(&huge), sizeof huge);
  v.push_back(frame(MsgHeader{uint32_t(sizeof(MsgHeader) + count.size()), uint16_t(MsgType::kWrite), client, 0,
                              uint32_t(count.size()), 4},
                    count));  // a count of 2^32-1
  v.push_back(frame(MsgHeader{uint32_t(sizeof(MsgHeader) + count.size()), uint16_t(MsgType::kReplicateReply), 1, 0,
                              uint32_t(count.size()), rng()},
                    count));
  for (int i = 0; i < 300; ++i) {
    std::string payload((rng() % 40) * 8, '\0');
    for (auto& ch : payload) ch = char(rng());
    // Any type but a backup request, whose random "path" could pass for one.
    uint16_t type = uint16_t(1 + rng() % 10);
    if (type == uint16_t(MsgType::kBackupRequest)) type = uint16_t(MsgType::kScan);
    MsgHeader h{uint32_t(sizeof(MsgHeader) + payload.size()), type, uint16_t(rng() % 100), 0,
                uint32_t(payload.size()), rng()};
    if (i % 5 == 0) h.bytes = uint32_t(rng());                // framing broken
    if (i % 7 == 0) h.payload_bytes = uint32_t(rng());
    v.push_back(frame(h, payload));
  }
  return v;
}

TEST(BlockTrust, RandomFramesAndSchedulesAreDroppedAndTheClusterKeepsServing) {
  TestCluster c("trust");
  ASSERT_EQ(c.up({"--nodes", "2", "--replicas", "2", "--targets", "1"}).rc, 0);
  ASSERT_EQ(c.cli({"put", "kept", "yes"}).rc, 0);
  const int node0 = c.pid_of("serving", 0), node1 = c.pid_of("serving", 1), target0 = c.pid_of("target", 0);
  ASSERT_GT(node0, 0);
  RawBlock raw(c.name());
  ASSERT_TRUE(raw.ok());

  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  size_t published = 0;
  for (int node = 0; node < 2; ++node)
    for (const std::string& f : bad_frames(rng)) {
      if (raw.publish_raw(node, f)) ++published;
      if (published % 50 == 0) usleep(2000);  // let some arrive in separate drains
    }
  EXPECT_GT(published, 500u);

  // Random values in two free schedule slots: all random, and plausible
  // but out of range (2^32-1 nodes and partitions, a target that is not).
  shm::ScheduleSlot& junk = raw.layout().schedules[shm::kMaxSchedules - 1];
  std::vector<uint64_t> words(sizeof(shm::ScheduleSlot) / 8);
  for (auto& w : words) w = rng();
  std::memcpy(static_cast<void*>(&junk), words.data(), words.size() * 8);
  junk.id = 1'000'000 + rng() % 1000;
  // Enabled schedules with impossible counts, for a target that does not
  // exist and for the one there is: that one must check the counts before
  // it indexes entries by them (it once wrote across the block).
  auto oversized = [&](int slot, uint32_t target, uint64_t id) -> shm::ScheduleSlot& {
    shm::ScheduleSlot& bad = raw.layout().schedules[slot];
    bad.nodes = 0xffffffffu;
    bad.partitions = 0xffffffffu;
    bad.replicas = 0xffffffffu;
    bad.target = target;
    bad.state.store(uint32_t(shm::ScheduleState::kEnable));
    bad.id = id;
    return bad;
  };
  shm::ScheduleSlot& wide = oversized(shm::kMaxSchedules - 2, 7, 2'000'000);
  shm::ScheduleSlot& ours = oversized(shm::kMaxSchedules - 3, 0, 3'000'000);
  raw.layout().header.change_seq.fetch_add(1);

  EXPECT_TRUE(wait_until([&] { return junk.id == 0 && wide.id == 0 && ours.id == 0; }, 20000))
      << "the malformed schedules were not dropped";
  EXPECT_TRUE(wait_until([&] { return c.log("node0").find("dropped") != std::string::npos; }, 10000));

  // Still serving, and nobody died.
  CliResult put = c.cli({"put", "new", "value"}, {}, 60);
  EXPECT_EQ(put.rc, 0) << put.err;
  CliResult get = c.cli({"get", "kept"}, {}, 60);
  EXPECT_EQ(get.rc, 0) << get.err;
  EXPECT_EQ(get.out, "yes");  // byte for byte
  CliResult backup = c.cli({"backup", "--json"}, {}, 120);
  EXPECT_EQ(backup.rc, 0) << backup.err;
  EXPECT_EQ(c.pid_of("serving", 0), node0);
  EXPECT_EQ(c.pid_of("serving", 1), node1);
  EXPECT_EQ(c.pid_of("target", 0), target0);
  EXPECT_EQ(c.state_of("serving", 0), "up");
  EXPECT_EQ(c.state_of("serving", 1), "up");
}

}  // namespace
}  // namespace cv::test
