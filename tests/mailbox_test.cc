// Mailboxes carry messages in order across processes, wrap around the ring,
// survive a producer killed while holding their lock, and report a dead
// consumer instead of blocking forever.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "shm/block_layout.h"
#include "shm/mailbox.h"
#include "shm/messages.h"
#include "shm/spill.h"

namespace cv::shm {
namespace {

// Raw bytes, outside the protocol's message types: not checked as a batch.
constexpr uint16_t kRawType = 0x7f00;

class MailboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bytes_ = sizeof(MailboxHeader) + kMailboxRingBytes;
    mem_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem_, MAP_FAILED);
    header_ = new (mem_) MailboxHeader;
    header_->producer_lock.init();
    ring_ = static_cast<char*>(mem_) + sizeof(MailboxHeader);
    Box().open_for(getpid());
  }
  void TearDown() override { munmap(mem_, bytes_); }

  Mailbox Box() { return Mailbox(header_, ring_); }
  Status Send(const std::string& payload, uint64_t id = 0) {
    return Box().send(kRawType, 7, 0, id, payload, Deadline::in_ms(1000));
  }
  std::vector<std::string> Drain() {
    std::vector<std::string> got;
    Box().drain([&](const MsgHeader&, std::string_view p) { got.emplace_back(p); });
    return got;
  }
  // Publishes bytes at the tail as they are, as a broken or hostile peer could.
  void PublishRaw(const std::string& bytes) {
    const uint64_t tail = header_->tail.load();
    for (size_t i = 0; i < bytes.size(); ++i) ring_[(tail + i) % kMailboxRingBytes] = bytes[i];
    header_->tail.store(tail + bytes.size());
  }
  static std::string Frame(MsgHeader h, const std::string& payload = {}) {
    std::string f(reinterpret_cast<const char*>(&h), sizeof h);
    f += payload;
    f.resize((f.size() + 7) & ~size_t(7), '\0');
    return f;
  }

  size_t bytes_ = 0;
  void* mem_ = nullptr;
  MailboxHeader* header_ = nullptr;
  char* ring_ = nullptr;
};

TEST_F(MailboxTest, DeliversMessagesInOrder) {
  ASSERT_TRUE(Send("one"));
  ASSERT_TRUE(Send("two"));
  EXPECT_EQ(Drain(), (std::vector<std::string>{"one", "two"}));
  EXPECT_TRUE(Box().empty());
}

TEST_F(MailboxTest, WrapsAroundTheRingManyTimes) {
  std::string big(300 * 1024, 'x');
  for (int round = 0; round < 200; ++round) {
    big[0] = char('a' + round % 26);
    ASSERT_TRUE(Send(big, uint64_t(round)));
    ASSERT_TRUE(Send("small"));
    auto got = Drain();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], big);
    EXPECT_EQ(got[1], "small");
  }
}

TEST_F(MailboxTest, RefusesAMessageLargerThanTheLimit) {
  // Without a spill prefix (a view that cannot spill) the ring's share is the limit.
  EXPECT_FALSE(Send(std::string(kMaxMessageBytes, 'x')));
}

// Spilled messages: a cluster name of this test's own, so that its files
// are told apart and removed with spill_remove_all.
class SpillTest : public MailboxTest {
 protected:
  void SetUp() override {
    MailboxTest::SetUp();
    cluster_ = "spilltest-" + std::to_string(getpid());
    prefix_ = spill_prefix(cluster_);
  }
  void TearDown() override {
    spill_remove_all(cluster_);
    MailboxTest::TearDown();
  }
  Mailbox SpillBox() { return Mailbox(header_, ring_, prefix_); }
  size_t SpillFiles() {
    size_t count = 0;
    for (const auto& e : std::filesystem::directory_iterator("/dev/shm"))
      if (e.path().filename().string().rfind(prefix_, 0) == 0) ++count;
    return count;
  }
  std::string cluster_, prefix_;
};

TEST_F(SpillTest, AMessageLargerThanTheRingArrivesWholeAndLeavesNoFile) {
  // Larger than the whole ring, let alone a message's share of it.
  std::string big(kMailboxRingBytes + 12345, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = char('a' + (i / 4096) % 26);
  ASSERT_TRUE(SpillBox().send(kRawType, 7, 3, 42, big, Deadline::in_ms(5000)));
  ASSERT_TRUE(SpillBox().send(kRawType, 7, 3, 43, "after", Deadline::in_ms(5000)));
  EXPECT_EQ(SpillFiles(), 1u);
  std::vector<std::pair<uint64_t, std::string>> got;
  Box().drain([&](const MsgHeader& h, std::string_view p) {
    EXPECT_EQ(h.type, kRawType);
    EXPECT_EQ(h.from, 7);
    EXPECT_EQ(h.from_generation, 3u);
    EXPECT_EQ(h.payload_bytes, p.size());
    got.emplace_back(h.request_id, std::string(p));
  });
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].first, 42u);
  EXPECT_TRUE(got[0].second == big) << "the spilled payload differs";
  EXPECT_EQ(got[1], (std::pair<uint64_t, std::string>{43, "after"}));
  EXPECT_EQ(SpillFiles(), 0u) << "the receiver removes the file it read";
}

TEST_F(SpillTest, AMessagePastTheSpillLimitIsRefused) {
  const Status s = SpillBox().send(kRawType, 7, 0, 1, std::string(kMaxSpillMessageBytes + 1, 'x'),
                                   Deadline::in_ms(1000));
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("too large"), std::string::npos) << s.message();
  EXPECT_EQ(SpillFiles(), 0u);
}

TEST_F(SpillTest, ASpillMessageNamingAnotherFileIsDroppedAndTheFileKept) {
  // A hostile or broken sender names a file that is not a spill file.
  const std::string victim = "/dev/shm/cachevault-spilltest-victim-" + std::to_string(getpid());
  FILE* f = fopen(victim.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  fputs("precious", f);
  fclose(f);
  SpillRefWire ref{};
  ref.type = kRawType;
  ref.bytes = 8;
  const std::string name = victim.substr(std::strlen("/dev/shm/"));
  std::memcpy(ref.name, name.data(), name.size());
  ASSERT_TRUE(Box().send(kSpillType, 7, 0, 1, std::string_view(reinterpret_cast<const char*>(&ref), sizeof ref),
                         Deadline::in_ms(1000)));
  // A well-named file of the wrong size, and a name without its NUL.
  SpillRefWire sized{};
  ASSERT_TRUE(spill_write(prefix_, kRawType, "12345", {}, &sized));
  sized.bytes = 99;
  ASSERT_TRUE(Box().send(kSpillType, 7, 0, 2, std::string_view(reinterpret_cast<const char*>(&sized), sizeof sized),
                         Deadline::in_ms(1000)));
  SpillRefWire unterminated{};
  std::memset(unterminated.name, 'a', sizeof unterminated.name);
  ASSERT_TRUE(Box().send(kSpillType, 7, 0, 3,
                         std::string_view(reinterpret_cast<const char*>(&unterminated), sizeof unterminated),
                         Deadline::in_ms(1000)));
  ASSERT_TRUE(Send("next", 4));
  std::vector<uint64_t> got;
  Box().drain([&](const MsgHeader& h, std::string_view) { got.push_back(h.request_id); });
  EXPECT_EQ(got, std::vector<uint64_t>{4});
  std::ifstream in(victim);
  std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(kept, "precious");
  unlink(victim.c_str());
  EXPECT_EQ(SpillFiles(), 0u) << "a spill file of the wrong size is removed, not left behind";
}

TEST_F(SpillTest, FilesOfUnreadMessagesGoWithTheCluster) {
  ASSERT_TRUE(SpillBox().send(kRawType, 7, 0, 1, std::string(kMaxMessageBytes + 1, 'y'), Deadline::in_ms(5000)));
  ASSERT_TRUE(SpillBox().send(kRawType, 7, 0, 2, std::string(kMaxMessageBytes + 1, 'z'), Deadline::in_ms(5000)));
  EXPECT_EQ(SpillFiles(), 2u);
  EXPECT_EQ(spill_remove_all(cluster_), 2u);
  EXPECT_EQ(SpillFiles(), 0u);
}

TEST_F(MailboxTest, CarriesMessagesBetweenProcesses) {
  pid_t child = fork();
  if (child == 0) {
    for (int i = 0; i < 10000; ++i)
      if (!Send(std::to_string(i), uint64_t(i))) _exit(1);
    _exit(0);
  }
  int next = 0;
  while (next < 10000) {
    Box().drain([&](const MsgHeader& h, std::string_view p) {
      EXPECT_EQ(h.request_id, uint64_t(next));
      EXPECT_EQ(p, std::to_string(next));
      ++next;
    });
    Box().wait(10'000'000);
  }
  int st = 0;
  waitpid(child, &st, 0);
  EXPECT_EQ(WEXITSTATUS(st), 0);
}

TEST_F(MailboxTest, ProducerKilledHoldingTheLockDoesNotBlockOthers) {
  pid_t child = fork();
  if (child == 0) {
    LockGuard g(header_->producer_lock, 1000);
    for (;;) pause();
  }
  usleep(100000);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(Send("after"));
  EXPECT_EQ(Drain(), (std::vector<std::string>{"after"}));
}

TEST_F(MailboxTest, FullRingWithDeadConsumerReportsPeerDown) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  header_->consumer_pid.store(child);  // a consumer that no longer exists
  std::string chunk(1 << 20, 'y');
  Status last;
  for (int i = 0; i < 20 && last.is_ok(); ++i) last = Send(chunk);
  EXPECT_EQ(last.code(), Code::kPeerDown);
}

TEST_F(MailboxTest, FullRingWithSlowConsumerTimesOut) {
  std::string chunk(1 << 20, 'z');
  Status last;
  for (int i = 0; i < 20 && last.is_ok(); ++i)
    last = Box().send(kRawType, 7, 0, 0, chunk, Deadline::in_ms(50));
  EXPECT_EQ(last.code(), Code::kTimeout);
}

TEST_F(MailboxTest, OpeningForANewOwnerStartsANewGeneration) {
  const uint32_t before = Box().generation();
  ASSERT_TRUE(Send("left for the previous owner"));
  Box().open_for(getpid());
  EXPECT_EQ(Box().generation(), before + 1);
  EXPECT_TRUE(Drain().empty());
}

TEST_F(MailboxTest, AReplyCarriesTheRequestersGeneration) {
  const uint32_t gen = Box().generation();
  ASSERT_TRUE(Box().send(kRawType, 3, 9, 42, "answer", Deadline::in_ms(1000), gen));
  MsgHeader got{};
  Box().drain([&](const MsgHeader& h, std::string_view) { got = h; });
  EXPECT_EQ(got.to_generation, gen);
  EXPECT_EQ(got.from_generation, 9u);
  EXPECT_EQ(got.request_id, 42u);
}

// Every drain below must return (no spin on a bad length), never read past
// the ring (ASan in --sanitize), and leave the mailbox usable.

TEST_F(MailboxTest, ZeroLengthFrameIsDroppedNotSpunOn) {
  PublishRaw(Frame(MsgHeader{0, kRawType, 7, 0, 0, 1}));
  EXPECT_TRUE(Drain().empty());
  EXPECT_TRUE(Box().empty());
  ASSERT_TRUE(Send("after"));
  EXPECT_EQ(Drain(), (std::vector<std::string>{"after"}));
}

TEST_F(MailboxTest, PayloadLengthPastTheFrameOrRingIsDropped) {
  PublishRaw(Frame(MsgHeader{uint32_t(sizeof(MsgHeader) + 8), kRawType, 7, 0, 0xffffffffu, 1}, "12345678"));
  EXPECT_TRUE(Drain().empty());
  PublishRaw(Frame(MsgHeader{uint32_t(kMailboxRingBytes), kRawType, 7, 0, 8, 1}, "12345678"));
  EXPECT_TRUE(Drain().empty());
  EXPECT_TRUE(Box().empty());
  ASSERT_TRUE(Send("after"));
  EXPECT_EQ(Drain(), (std::vector<std::string>{"after"}));
}

// Found by the libFuzzer target: a pad frame that fills the ring's end but
// reaches past the published tail moved the head beyond the tail (the ring
// then looked non-empty for ever, and producers' free-space sums wrapped).
TEST_F(MailboxTest, PadFramePastTheTailIsDropped) {
  const uint64_t near_end = 3 * kMailboxRingBytes - 64;
  header_->head.store(near_end);
  header_->tail.store(near_end);
  PublishRaw(Frame(MsgHeader{64, kPadType, 7, 0, 0, 1}));  // 32 bytes published of the 64 it claims
  EXPECT_TRUE(Drain().empty());
  EXPECT_TRUE(Box().empty());
  EXPECT_LE(header_->head.load(), header_->tail.load());
  ASSERT_TRUE(Send("after"));
  EXPECT_EQ(Drain(), (std::vector<std::string>{"after"}));
  EXPECT_TRUE(Box().empty());
}

TEST_F(MailboxTest, SenderThatCannotExistIsDropped) {
  PublishRaw(Frame(MsgHeader{uint32_t(sizeof(MsgHeader) + 8), kRawType, 60000, 0, 8, 1}, "12345678"));
  ASSERT_TRUE(Send("ok"));
  EXPECT_EQ(Drain(), (std::vector<std::string>{"ok"}));
}

TEST_F(MailboxTest, MalformedBatchIsDroppedAndTheNextDelivered) {
  BatchHeader bh{0xffffffffu, 0, 0, 0, 0, 0, 0};  // claims 2^32-1 records, holds none
  std::string payload(reinterpret_cast<const char*>(&bh), sizeof bh);
  ASSERT_TRUE(Box().send(uint16_t(MsgType::kWrite), 7, 0, 1, payload, Deadline::in_ms(1000)));
  ASSERT_TRUE(Send("next"));
  EXPECT_EQ(Drain(), (std::vector<std::string>{"next"}));
}

TEST_F(MailboxTest, CountersFurtherApartThanTheRingResynchronise) {
  header_->tail.store(header_->head.load() + 3 * kMailboxRingBytes);
  EXPECT_TRUE(Drain().empty());
  EXPECT_TRUE(Box().empty());
  ASSERT_TRUE(Send("after"));
  EXPECT_EQ(Drain(), (std::vector<std::string>{"after"}));
}

TEST_F(MailboxTest, RandomFramesNeverHangCrashOrLoseTheMailbox) {
  std::mt19937_64 rng(20261201);
  for (int round = 0; round < 3000; ++round) {
    std::string bytes((rng() % 64 + 1) * 8, '\0');
    for (auto& c : bytes) c = char(rng());
    if (round % 3 == 0) {
      // A plausible header with random fields, so checks past the first run too.
      MsgHeader h{uint32_t(rng() % 4096) & ~7u, uint16_t(rng() % 12), uint16_t(rng() % 100), 0,
                  uint32_t(rng() % 4096), 0};
      std::memcpy(bytes.data(), &h, std::min(sizeof h, bytes.size()));
    }
    PublishRaw(bytes);
    size_t seen = 0;
    Box().drain([&](const MsgHeader& h, std::string_view p) {
      ++seen;
      ASSERT_LE(p.size() + sizeof(MsgHeader), h.bytes);
      ASSERT_LT(h.from, kMailboxCount);
    });
    EXPECT_TRUE(Box().empty()) << "round " << round;
    ASSERT_TRUE(Send("alive")) << "round " << round;
    ASSERT_EQ(Drain(), (std::vector<std::string>{"alive"})) << "round " << round;
  }
}

}  // namespace
}  // namespace cv::shm
