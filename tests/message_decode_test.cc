// The decoders of the block's messages over random and corrupted inputs:
// what the libFuzzer target (shm/message_decode_fuzz.cc) runs, here seeded
// and bounded so that ./run test (and --sanitize) covers it. A malformed
// message is refused; an accepted one reads whole; nothing reads past its
// input, crashes, hangs or allocates by a count it was handed.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "shm/message_decode.h"
#include "shm/messages.h"

namespace cv::shm {
namespace {

std::string record_batch(std::mt19937_64& rng, uint32_t records) {
  BatchBuilder b(WriteMode::kKeep, Policy::kNewer, 7);
  for (uint32_t i = 0; i < records; ++i) {
    const std::string key = "key-" + std::to_string(rng() % 100000);
    const std::string value(rng() % 64, char('a' + i % 26));
    WireRecord r{uint16_t(key.size()), uint8_t(rng() % 2), 0, uint32_t(value.size()), rng(), rng(), i, 0, 0};
    b.add(r, key, value);
  }
  return std::string(b.finish());
}

std::string result_batch(uint32_t results) {
  BatchBuilder b;
  for (uint32_t i = 0; i < results; ++i) b.add_result(WireResult{0, {}, i, i, i});
  return std::string(b.finish());
}

TEST(MessageCheck, WellFormedBatchesPassAndReadWhole) {
  std::mt19937_64 rng(1);
  const std::string records = record_batch(rng, 50);
  EXPECT_TRUE(check_message(uint16_t(MsgType::kWrite), records));
  EXPECT_TRUE(check_message(uint16_t(MsgType::kGetReply), records));
  EXPECT_TRUE(check_message(uint16_t(MsgType::kWriteReply), result_batch(50)));
  EXPECT_TRUE(check_message(uint16_t(MsgType::kScan), record_batch(rng, 0)));
  EXPECT_TRUE(check_message(uint16_t(MsgType::kBackupRequest), "/some/dir"));
  EXPECT_TRUE(check_message(0x7f00, "any bytes of a type this build does not know"));
}

TEST(MessageCheck, CountsLengthsAndValuesThatDoNotAddUpAreRefused) {
  std::mt19937_64 rng(2);
  std::string batch = record_batch(rng, 3);
  uint32_t huge = 0xffffffffu;
  std::string claims_more = batch;
  std::memcpy(claims_more.data(), &huge, 4);
  EXPECT_FALSE(check_message(uint16_t(MsgType::kWrite), claims_more));
  BatchReader rd(claims_more);
  EXPECT_FALSE(rd.ok()) << "a reader must not let a caller size arrays by 2^32-1";
  EXPECT_FALSE(check_message(uint16_t(MsgType::kWrite), batch.substr(0, batch.size() - 1)));  // truncated
  EXPECT_FALSE(check_message(uint16_t(MsgType::kWrite), batch + "extra!!!"));                // trailing bytes
  EXPECT_FALSE(check_message(uint16_t(MsgType::kWrite), "short"));                           // no header
  std::string bad_mode = batch;
  bad_mode[offsetof(BatchHeader, mode)] = 9;
  EXPECT_FALSE(check_message(uint16_t(MsgType::kWrite), bad_mode));
  std::string long_value = batch;
  uint32_t big = 0x7fffffff;
  std::memcpy(long_value.data() + sizeof(BatchHeader) + offsetof(WireRecord, value_len), &big, 4);
  EXPECT_FALSE(check_message(uint16_t(MsgType::kWrite), long_value));
  EXPECT_FALSE(check_message(uint16_t(MsgType::kWriteReply), result_batch(4) + "12345678"));
  EXPECT_FALSE(check_message(uint16_t(MsgType::kBackupReply), "tiny"));
  EXPECT_FALSE(check_message(uint16_t(MsgType::kBackupRequest), std::string(4096, 'd')));
}

TEST(MessageCheck, RandomAndCorruptedInputsNeverBreakTheDecoders) {
  std::mt19937_64 rng(20261201);
  uint64_t accepted = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string input;
    switch (i % 4) {
      case 0:  // random bytes
        input.resize(rng() % 512);
        for (auto& c : input) c = char(rng());
        break;
      case 1:  // a sound batch with a few bytes changed
      case 2: {
        input = i % 4 == 1 ? record_batch(rng, uint32_t(rng() % 20)) : result_batch(uint32_t(rng() % 20));
        for (int k = int(rng() % 4); k >= 0 && !input.empty(); --k) input[rng() % input.size()] = char(rng());
        break;
      }
      case 3:  // a sound batch cut short or extended
        input = record_batch(rng, uint32_t(rng() % 20));
        if (rng() % 2) input.resize(rng() % (input.size() + 1));
        else input.append(rng() % 40, char(rng()));
        break;
    }
    // An exactly sized copy: ASan (./run test --sanitize) sees any overread.
    accepted += decode_everything(std::string(input));
  }
  EXPECT_GT(accepted, 0u) << "some inputs are sound and must pass";
}

// Inputs the libFuzzer target found or kept for their coverage
// (tests/fuzz_corpus/message_decode_fuzz; see ./run test), replayed through the
// same entry point, so each stays fixed without clang.
TEST(MessageCheck, FuzzCorpusNeverBreaksTheDecoders) {
  const std::filesystem::path dir = std::filesystem::path(CACHEVAULT_SOURCE_DIR) / "tests/fuzz_corpus/message_decode_fuzz";
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(e.path().filename().string());
    decode_everything(bytes);  // traps (fails the test) if a decoder breaks its promise
    ++files;
  }
  EXPECT_GE(files, 1u);
}

}  // namespace
}  // namespace cv::shm
