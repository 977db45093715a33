// Specification of the backup file format: what the writer produces, what
// the reader accepts, and that every kind of damage is caught with an offset.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "client/inspect_verify.h"
#include "client/record_json.h"
#include "shm/backup_reader.h"
#include "shm/backup_writer.h"

namespace cv::fmt {
namespace {

struct Rec {
  std::string key, value;
  uint64_t version = 0, timestamp = 0;
  bool tombstone = false;
};

std::string KeyOf(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "key-%010llu", static_cast<unsigned long long>(i));
  return buf;
}

std::vector<Rec> Simple(uint64_t n, size_t value_size = 100) {
  std::vector<Rec> v(n);
  for (uint64_t i = 0; i < n; ++i) {
    v[i].key = KeyOf(i);
    v[i].value = std::string(value_size, static_cast<char>('a' + i % 26));
    v[i].version = i + 1;
    v[i].timestamp = 1000 + i;
  }
  return v;
}

class BackupFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cv-backup-format-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/backup.cvb";
    info_.kind = kConsolidated;
    info_.backup_id = 42;
    info_.source_nodes = 3;
    info_.source_replicas = 2;
    info_.source_partitions = 256;
    info_.created_ns = 1'700'000'000'000'000'000ull;
  }
  void TearDown() override {
    reader_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Writes recs to path_ and finishes the file.
  Status Write(const std::vector<Rec>& recs, bool durable = false) {
    std::unique_ptr<BackupWriter> w;
    if (Status s = BackupWriter::create(path_, info_, &w); !s) return s;
    for (const Rec& r : recs) {
      if (Status s = w->add({r.key, r.value, r.version, r.timestamp, r.tombstone}); !s) return s;
    }
    return w->finish(durable);
  }
  Status Write(uint64_t n, bool durable = false) { return Write(Simple(n), durable); }

  // Opens and fully verifies path_.
  Status Read() {
    reader_.reset();
    if (Status s = BackupReader::open(path_, &reader_); !s) return s;
    return reader_->verify_all();
  }
  std::vector<Rec> ReadAll() {
    std::vector<Rec> out;
    RecordCursor c = reader_->cursor();
    for (; c.valid(); c.next()) {
      const RecordView& r = c.record();
      out.push_back(
          {std::string(r.key), std::string(r.value), r.version, r.timestamp, r.tombstone});
    }
    EXPECT_TRUE(c.status()) << c.status().message();
    return out;
  }

  std::string Contents() {
    std::ifstream in(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  void SetContents(const std::string& bytes) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
  }
  void FlipByte(uint64_t offset, uint8_t mask = 0x01) {
    const int fd = ::open(path_.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    char c;
    ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(offset)), 1);
    c = static_cast<char>(c ^ mask);
    ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(offset)), 1);
    ::close(fd);
  }
  void Truncate(uint64_t size) {
    ASSERT_EQ(::truncate(path_.c_str(), static_cast<off_t>(size)), 0);
  }
  uint64_t FileSize() { return std::filesystem::file_size(path_); }
  std::vector<std::string> DirEntries() {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_))
      names.push_back(e.path().filename());
    return names;
  }

  // Flips `mask` at offset, expects open or verify_all to call it corrupt at
  // an offset in [lo, hi), then flips it back.
  void ExpectFlipDetected(uint64_t offset, uint64_t lo, uint64_t hi, uint8_t mask = 0x01) {
    FlipByte(offset, mask);
    Status s = Read();
    EXPECT_EQ(s.code(), Code::kCorrupt) << "flip at " << offset << " not detected";
    EXPECT_GE(s.offset(), lo) << "flip at " << offset << ": " << s.message();
    EXPECT_LT(s.offset(), hi) << "flip at " << offset << ": " << s.message();
    FlipByte(offset, mask);
  }

  std::string dir_, path_;
  FileHeaderInfo info_;
  std::unique_ptr<BackupReader> reader_;
};

// ---- Round trip ----

TEST_F(BackupFormatTest, RoundTripKeepsEveryFieldOfEveryRecord) {
  info_.kind = kNodeCopy;
  info_.node_id = 7;
  std::vector<Rec> recs = Simple(5000);
  for (size_t i = 0; i < recs.size(); ++i) {
    if (i % 97 == 0) recs[i].value.clear();
    if (i % 13 == 0) recs[i].tombstone = true;
    if (i % 501 == 0) recs[i].key.resize(kMaxKeyBytes, 'k');  // still sorted: the prefix differs
    if (i % 1700 == 1) recs[i].value.assign(kMaxValueBytes, 'v');
    if (i % 7 == 0) recs[i].value[0] = '\xff';  // binary bytes are fine
  }
  ASSERT_TRUE(Write(recs));
  ASSERT_TRUE(Read());
  EXPECT_EQ(reader_->record_count(), recs.size());
  EXPECT_GT(reader_->block_count(), 10u);
  EXPECT_EQ(reader_->first_key(), recs.front().key);
  EXPECT_EQ(reader_->last_key(), recs.back().key);
  EXPECT_EQ(reader_->kind(), kNodeCopy);
  EXPECT_EQ(reader_->header().node_id, 7u);
  EXPECT_EQ(reader_->size(), FileSize());
  std::vector<Rec> got = ReadAll();
  ASSERT_EQ(got.size(), recs.size());
  for (size_t i = 0; i < recs.size(); ++i) {
    ASSERT_EQ(got[i].key, recs[i].key) << i;
    ASSERT_EQ(got[i].value, recs[i].value) << i;
    ASSERT_EQ(got[i].version, recs[i].version) << i;
    ASSERT_EQ(got[i].timestamp, recs[i].timestamp) << i;
    ASSERT_EQ(got[i].tombstone, recs[i].tombstone) << i;
  }
}

TEST_F(BackupFormatTest, HeaderFieldsRoundTrip) {
  ASSERT_TRUE(Write(10));
  ASSERT_TRUE(Read());
  const FileHeaderInfo& h = reader_->header();
  EXPECT_EQ(reader_->format_version(), kFormatVersion);
  EXPECT_EQ(h.kind, kConsolidated);
  EXPECT_EQ(h.backup_id, 42u);
  EXPECT_EQ(h.source_nodes, 3u);
  EXPECT_EQ(h.source_replicas, 2u);
  EXPECT_EQ(h.source_partitions, 256u);
  EXPECT_EQ(h.created_ns, info_.created_ns);
}

TEST_F(BackupFormatTest, BlocksStayNearTheTargetAndBigRecordsGetTheirOwn) {
  std::vector<Rec> recs = Simple(3000, 1000);
  recs[1500].value.assign(kMaxValueBytes, 'x');
  ASSERT_TRUE(Write(recs));
  ASSERT_TRUE(Read());
  size_t big = 0;
  for (const BlockInfo& b : reader_->blocks()) {
    if (b.payload_bytes > kBlockTargetBytes) {
      ++big;
      EXPECT_EQ(b.records, 1u);
    }
  }
  EXPECT_EQ(big, 1u);
}

TEST_F(BackupFormatTest, EmptyBackupHasNoBlocksAndNoKeys) {
  ASSERT_TRUE(Write(0));
  ASSERT_TRUE(Read());
  EXPECT_EQ(FileSize(), kMinFileSize);
  EXPECT_EQ(reader_->record_count(), 0u);
  EXPECT_EQ(reader_->block_count(), 0u);
  EXPECT_EQ(reader_->first_key(), "");
  EXPECT_EQ(reader_->last_key(), "");
  EXPECT_FALSE(reader_->cursor().valid());
}

TEST_F(BackupFormatTest, BytesWrittenMatchesTheFile) {
  std::unique_ptr<BackupWriter> w;
  ASSERT_TRUE(BackupWriter::create(path_, info_, &w));
  for (const Rec& r : Simple(1000)) ASSERT_TRUE(w->add({r.key, r.value, r.version, r.timestamp}));
  EXPECT_EQ(w->records(), 1000u);
  ASSERT_TRUE(w->finish(/*durable=*/true));
  EXPECT_EQ(w->bytes_written(), FileSize());
}

// ---- Seek ----

TEST_F(BackupFormatTest, SeekFindsTheFirstKeyAtOrAbove) {
  const uint64_t n = 4000;  // keys KeyOf(0), KeyOf(2), ...: odd numbers fall between
  std::vector<Rec> recs;
  for (uint64_t i = 0; i < n; ++i) recs.push_back(Simple(1)[0]), recs.back().key = KeyOf(2 * i);
  ASSERT_TRUE(Write(recs));
  ASSERT_TRUE(Read());
  ASSERT_GT(reader_->block_count(), 3u);
  RecordCursor c = reader_->cursor();
  for (uint64_t i = 0; i < 2 * n; i += 37) {
    c.seek(KeyOf(i));
    ASSERT_TRUE(c.valid()) << i;
    EXPECT_EQ(c.record().key, KeyOf(i % 2 == 0 ? i : i + 1));
  }
  c.seek("");
  EXPECT_EQ(c.record().key, KeyOf(0));
  c.seek(KeyOf(2 * n - 2));
  EXPECT_EQ(c.record().key, KeyOf(2 * n - 2));
  c.next();
  EXPECT_FALSE(c.valid());
  c.seek("zzz");
  EXPECT_FALSE(c.valid());
  EXPECT_TRUE(c.status());
  // Every block's first key is found in that block.
  for (size_t b = 0; b < reader_->block_count(); ++b) {
    c.seek(reader_->block(b).first_key);
    EXPECT_EQ(c.block_index(), b);
  }
}

TEST_F(BackupFormatTest, CursorStartsAtAGivenBlock) {
  ASSERT_TRUE(Write(3000));
  ASSERT_TRUE(Read());
  RecordCursor c = reader_->cursor(2);
  ASSERT_TRUE(c.valid());
  EXPECT_EQ(c.record().key, reader_->block(2).first_key);
  EXPECT_FALSE(reader_->cursor(reader_->block_count()).valid());
}

TEST_F(BackupFormatTest, CursorStopsAtBadFramingAndSaysWhere) {
  ASSERT_TRUE(Write(3000));
  ASSERT_TRUE(Read());
  // Record 2 of block 0: payload, then two records of 23 + 14 + 100 bytes.
  const uint64_t at =
      reader_->block(0).offset + kBlockHeaderSize + 2 * (kRecordHeaderSize + 14 + 100);
  reader_.reset();
  FlipByte(at, 0xff);      // key length 0x000e ...
  FlipByte(at + 1, 0x04);  // ... becomes 0x04f1 = 1265, over the key limit
  ASSERT_TRUE(BackupReader::open(path_, &reader_));  // open reads only the last block
  RecordCursor c = reader_->cursor();
  int n = 0;
  for (; c.valid(); c.next()) ++n;
  EXPECT_EQ(n, 2);
  EXPECT_EQ(c.status().code(), Code::kCorrupt);
  EXPECT_EQ(c.status().offset(), at) << c.status().message();
  EXPECT_EQ(reader_->verify_all().offset(), reader_->block(0).offset);  // the checksum first
}

// ---- What the writer refuses ----

TEST_F(BackupFormatTest, UnsortedOrDuplicateKeysAreRefusedAndTheWriterGoesOn) {
  std::unique_ptr<BackupWriter> w;
  ASSERT_TRUE(BackupWriter::create(path_, info_, &w));
  ASSERT_TRUE(w->add({"b", "1", 1, 1, false}));
  EXPECT_EQ(w->add({"b", "2", 2, 2, false}).code(), Code::kInvalidArgument);
  EXPECT_EQ(w->add({"a", "3", 3, 3, false}).code(), Code::kInvalidArgument);
  EXPECT_EQ(w->add({"ab", "3", 3, 3, false}).code(), Code::kInvalidArgument);
  ASSERT_TRUE(w->add({"b\x01", "4", 4, 4, false}));
  ASSERT_TRUE(w->add({"c", "5", 5, 5, false}));
  ASSERT_TRUE(w->finish(false));
  ASSERT_TRUE(Read());
  std::vector<Rec> got = ReadAll();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1].key, std::string("b\x01"));
}

TEST_F(BackupFormatTest, OutOfLimitRecordsAreRefused) {
  std::unique_ptr<BackupWriter> w;
  ASSERT_TRUE(BackupWriter::create(path_, info_, &w));
  EXPECT_EQ(w->add({"", "v", 1, 1, false}).code(), Code::kInvalidArgument);
  EXPECT_EQ(w->add({std::string(kMaxKeyBytes + 1, 'k'), "v", 1, 1, false}).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(w->add({"k", std::string(kMaxValueBytes + 1, 'v'), 1, 1, false}).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(w->add({"k", "", 1, 1, /*tombstone=*/true}).code(), Code::kInvalidArgument);
  info_.kind = 99;
  std::unique_ptr<BackupWriter> bad;
  EXPECT_EQ(BackupWriter::create(dir_ + "/other", info_, &bad).code(), Code::kInvalidArgument);
}

// ---- Publication ----

TEST_F(BackupFormatTest, AbandonedWriterLeavesNothingBehind) {
  {
    std::unique_ptr<BackupWriter> w;
    ASSERT_TRUE(BackupWriter::create(path_, info_, &w));
    for (const Rec& r : Simple(20000))
      ASSERT_TRUE(w->add({r.key, r.value, r.version, r.timestamp}));
    EXPECT_EQ(w->temp_path(), path_ + ".tmp." + std::to_string(::getpid()));
    EXPECT_TRUE(std::filesystem::exists(w->temp_path()));
    EXPECT_FALSE(std::filesystem::exists(path_));
  }
  EXPECT_TRUE(DirEntries().empty());
}

TEST_F(BackupFormatTest, FilesAreCreatedWithMode0600EvenUnderAPermissiveUmask) {
  const mode_t old = ::umask(0);
  const Status s = Write(10);
  ::umask(old);
  ASSERT_TRUE(s);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(DirEntries(), std::vector<std::string>{"backup.cvb"});
}

TEST_F(BackupFormatTest, FinishNeverReplacesAnExistingFile) {
  ASSERT_TRUE(Write(10));
  const Status s = Write(20, /*durable=*/true);
  EXPECT_NE(s.message().find("File exists"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(path_), std::string::npos) << s.message();
  ASSERT_TRUE(Read());
  EXPECT_EQ(reader_->record_count(), 10u);  // the earlier file, untouched
  EXPECT_EQ(DirEntries(), std::vector<std::string>{"backup.cvb"});
}

TEST_F(BackupFormatTest, FinishMayReplaceWhenAskedTo) {
  ASSERT_TRUE(Write(10));
  std::unique_ptr<BackupWriter> w;
  ASSERT_TRUE(BackupWriter::create(path_, info_, &w));
  for (const Rec& r : Simple(20)) ASSERT_TRUE(w->add({r.key, r.value, r.version, r.timestamp, r.tombstone}));
  ASSERT_TRUE(w->finish(/*durable=*/true, shm::Replace::kAllowed));
  ASSERT_TRUE(Read());
  EXPECT_EQ(reader_->record_count(), 20u);
  EXPECT_EQ(DirEntries().size(), 1u);
}

TEST_F(BackupFormatTest, AWriteErrorFailsTheWriterAndRemovesTheTempFile) {
  // The file size limit makes write(2) fail with EFBIG (SIGXFSZ ignored).
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = 512 << 10;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::unique_ptr<BackupWriter> w;
  Status s = BackupWriter::create(path_, info_, &w);
  for (const Rec& r : Simple(30000)) {
    if (s) s = w->add({r.key, r.value, r.version, r.timestamp});
  }
  if (s) s = w->finish(false);
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_NE(s.message().find("write"), std::string::npos) << s.message();
  EXPECT_TRUE(DirEntries().empty());
  EXPECT_EQ(w->add({"zzz", "v", 1, 1, false}).code(), Code::kIoError);  // stays failed
  EXPECT_EQ(w->finish(false).code(), Code::kIoError);
}

TEST_F(BackupFormatTest, CreateInAMissingDirectoryFailsNamingThePath) {
  std::unique_ptr<BackupWriter> w;
  Status s = BackupWriter::create(dir_ + "/no/such/dir/b.cvb", info_, &w);
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_NE(s.message().find("/no/such/dir/b.cvb"), std::string::npos) << s.message();
}

// ---- Damage: every flipped bit, every truncation, garbage ----

TEST_F(BackupFormatTest, AFlippedBitAnywhereIsCaughtWithAnOffsetInItsRegion) {
  ASSERT_TRUE(Write(2000));
  ASSERT_TRUE(Read());
  const uint64_t size = FileSize();
  const std::vector<BlockInfo> blocks = reader_->blocks();
  ASSERT_GT(blocks.size(), 3u);
  const uint64_t index_at = blocks.back().offset + kBlockHeaderSize + blocks.back().payload_bytes;
  // Header: every bit.
  for (uint64_t off = 0; off < kFileHeaderSize; ++off) {
    for (int bit = 0; bit < 8; ++bit) ExpectFlipDetected(off, 0, kFileHeaderSize, 1u << bit);
  }
  // Blocks: every header byte, and payload bytes at the start, middle, end.
  for (const BlockInfo& b : blocks) {
    const uint64_t payload = b.offset + kBlockHeaderSize;
    std::vector<uint64_t> offs;
    for (uint64_t off = b.offset; off < payload; ++off) offs.push_back(off);
    for (uint64_t off :
         {payload, payload + 5, payload + b.payload_bytes / 2, payload + b.payload_bytes - 1}) {
      offs.push_back(off);
    }
    for (uint64_t off : offs) ExpectFlipDetected(off, b.offset, payload + b.payload_bytes, 0x10);
  }
  // Index and its checksum: every byte. Footer: every bit.
  for (uint64_t off = index_at; off < size - kFooterSize; ++off)
    ExpectFlipDetected(off, index_at, size);
  for (uint64_t off = size - kFooterSize; off < size; ++off) {
    for (int bit = 0; bit < 8; ++bit) ExpectFlipDetected(off, 0, size, 1u << bit);
  }
  ASSERT_TRUE(Read());  // every flip was undone
}

TEST_F(BackupFormatTest, TruncationAtAnyPointIsCaught) {
  ASSERT_TRUE(Write(1500));
  const std::string whole = Contents();
  std::vector<uint64_t> cuts = {0, 1, 7, 8, 63, 64, 65, kMinFileSize - 1, kMinFileSize};
  for (uint64_t cut = 100; cut < whole.size(); cut += whole.size() / 150) cuts.push_back(cut);
  for (uint64_t back = 1; back <= 80; ++back) cuts.push_back(whole.size() - back);
  for (uint64_t cut : cuts) {
    SetContents(whole.substr(0, cut));
    Status s = Read();
    EXPECT_EQ(s.code(), Code::kCorrupt) << "cut at " << cut;
    EXPECT_LE(s.offset(), cut) << s.message();
  }
}

TEST_F(BackupFormatTest, AnEmptyFileIsCorruptAndSaysSo) {
  SetContents("");
  Status s = Read();
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_NE(s.message().find("empty"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(path_), std::string::npos) << s.message();
}

TEST_F(BackupFormatTest, RandomGarbageIsRefusedWithoutCrashing) {
  std::mt19937_64 rng(12345);
  ASSERT_TRUE(Write(300));
  const std::string valid = Contents();
  for (int round = 0; round < 2000; ++round) {
    std::string bytes;
    if (round % 2 == 0) {  // pure noise
      bytes.resize(rng() % 4096);
      for (char& c : bytes) c = static_cast<char>(rng());
    } else {  // a valid file with a noisy stretch somewhere
      bytes = valid;
      const size_t at = rng() % bytes.size();
      const size_t len = 1 + rng() % 64;
      for (size_t i = at; i < std::min(bytes.size(), at + len); ++i)
        bytes[i] = static_cast<char>(rng());
      if (bytes == valid) continue;
    }
    std::unique_ptr<BackupReader> r;
    Status s = BackupReader::open_memory(bytes, "garbage", &r);
    if (s) s = r->verify_all();
    EXPECT_EQ(s.code(), Code::kCorrupt) << "round " << round;
    EXPECT_LE(s.offset(), bytes.size());
  }
  SetContents(std::string(1 << 16, '\x5a'));
  EXPECT_EQ(Read().code(), Code::kCorrupt);
}

TEST_F(BackupFormatTest, AMissingFileIsNotFoundAndNamed) {
  Status s = Read();
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_NE(s.message().find(path_), std::string::npos) << s.message();
}

TEST_F(BackupFormatTest, ADirectoryIsRefusedClearly) {
  path_ = dir_;
  Status s = Read();
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_NE(s.message().find("directory"), std::string::npos) << s.message();
}

TEST_F(BackupFormatTest, AnotherFormatVersionIsNamed) {
  ASSERT_TRUE(Write(10));
  std::string bytes = Contents();
  encode_file_header(info_, 7, bytes.data());
  SetContents(bytes);
  Status s = Read();
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_NE(s.message().find("format version 7, this build reads 1 to 2"), std::string::npos)
      << s.message();
  EXPECT_EQ(s.offset(), kHeaderVersionOffset);
}

TEST_F(BackupFormatTest, ATombstoneInAConsolidatedBackupIsCorrupt) {
  info_.kind = kNodeCopy;
  std::vector<Rec> recs = Simple(100);
  recs[50].tombstone = true;
  ASSERT_TRUE(Write(recs));
  std::string bytes = Contents();
  info_.kind = kConsolidated;  // relabel it, with a sound header checksum
  encode_file_header(info_, kFormatVersion, bytes.data());
  SetContents(bytes);
  Status s = Read();
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_NE(s.message().find("tombstone"), std::string::npos) << s.message();
}

// ---- inspect and verify ----

struct Output {
  int code;
  std::string out, err;
};

Output Capture(const std::function<int()>& f) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = f();
  std::string out = ::testing::internal::GetCapturedStdout();
  return {code, out, ::testing::internal::GetCapturedStderr()};
}

TEST_F(BackupFormatTest, VerifyExitsZeroOnASoundFile) {
  ASSERT_TRUE(Write(500));
  Output o = Capture([&] { return client::run_verify(path_); });
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("ok"), std::string::npos);
  EXPECT_EQ(o.err, "");
}

TEST_F(BackupFormatTest, VerifyExitsThreeOnDamageAndNamesTheOffset) {
  ASSERT_TRUE(Write(500));
  ASSERT_TRUE(Read());
  const uint64_t at = reader_->block(1).offset + kBlockHeaderSize + 40;
  const std::string where = "at offset " + std::to_string(reader_->block(1).offset);
  FlipByte(at);
  Output o = Capture([&] { return client::run_verify(path_); });
  EXPECT_EQ(o.code, 3);
  EXPECT_EQ(o.err.rfind("cachevault: " + path_ + ": ", 0), 0u) << o.err;
  EXPECT_NE(o.err.find(where), std::string::npos) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1);
  EXPECT_EQ(Capture([&] { return client::run_inspect(path_, true, false); }).code, 3);
}

TEST_F(BackupFormatTest, VerifyExitsOneOnAMissingFileAndThreeOnADirectory) {
  Output o = Capture([&] { return client::run_verify(path_); });
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find(path_), std::string::npos) << o.err;
  EXPECT_EQ(Capture([&] { return client::run_inspect(path_, false, false); }).code, 1);
  EXPECT_EQ(Capture([&] { return client::run_verify(dir_); }).code, 3);
  SetContents("not a backup");
  EXPECT_EQ(Capture([&] { return client::run_verify(path_); }).code, 3);
}

TEST_F(BackupFormatTest, InspectJsonHasTheContractFields) {
  ASSERT_TRUE(Write(500));
  Output o = Capture([&] { return client::run_inspect(path_, true, false); });
  ASSERT_EQ(o.code, 0) << o.err;
  const nlohmann::json j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j["format_version"], kFormatVersion);
  EXPECT_EQ(j["backup_id"], 42);
  EXPECT_EQ(j["records"], 500);
  EXPECT_GE(j["blocks"].get<int>(), 1);
  EXPECT_EQ(j["first_key"], KeyOf(0));
  EXPECT_EQ(j["last_key"], KeyOf(499));
  EXPECT_EQ(j["source"], (nlohmann::json{{"nodes", 3}, {"replicas", 2}, {"partitions", 256}}));
  EXPECT_EQ(j["kind"], "consolidated");
  EXPECT_EQ(j["bytes"], FileSize());
}

TEST_F(BackupFormatTest, InspectSummaryListsEveryBlock) {
  ASSERT_TRUE(Write(3000));
  ASSERT_TRUE(Read());
  Output o = Capture([&] { return client::run_inspect(path_, false, false); });
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("records         3000"), std::string::npos) << o.out;
  for (const BlockInfo& b : reader_->blocks()) {
    EXPECT_NE(o.out.find(" " + std::to_string(b.offset) + " "), std::string::npos) << o.out;
  }
}

TEST_F(BackupFormatTest, InspectRecordsPrintsScanShapedLines) {
  std::vector<Rec> recs = Simple(50);
  recs[3].value = std::string("\xff\0", 2) + "binary";
  ASSERT_TRUE(Write(recs));
  Output o = Capture([&] { return client::run_inspect(path_, false, true); });
  ASSERT_EQ(o.code, 0) << o.err;
  std::istringstream lines(o.out);
  std::string line;
  size_t n = 0;
  for (; std::getline(lines, line); ++n) {
    const nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["key"], recs[n].key);
    EXPECT_EQ(j["version"], recs[n].version);
    EXPECT_EQ(j["timestamp"], recs[n].timestamp);
    if (n == 3) {
      EXPECT_EQ(j["value"]["base64"], "/wBiaW5hcnk=");
    } else {
      EXPECT_EQ(j["value"], recs[n].value);
    }
  }
  EXPECT_EQ(n, recs.size());
}

// ---- Record lines ----

TEST(RecordJsonLine, Utf8PassesAsAString) {
  EXPECT_EQ(client::record_json_line("k\xc3\xa9y", "h\xe2\x82\xac llo \xf0\x9f\x98\x80", 3, 4),
            "{\"key\":\"k\xc3\xa9y\",\"value\":\"h\xe2\x82\xac llo \xf0\x9f\x98\x80\","
            "\"version\":3,\"timestamp\":4}");
}

TEST(RecordJsonLine, QuotesBackslashesAndControlsAreEscaped) {
  const std::string line = client::record_json_line("a\"b", std::string("x\\y\n\x01\0z", 7), 1, 2);
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["key"], "a\"b");
  EXPECT_EQ(j["value"], std::string("x\\y\n\x01\0z", 7));
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(RecordJsonLine, InvalidUtf8BecomesBase64) {
  const auto value_of = [](std::string_view v) {
    return nlohmann::json::parse(client::record_json_line("k", v, 1, 1))["value"];
  };
  EXPECT_EQ(value_of("\xff\xfe"), (nlohmann::json{{"base64", "//4="}}));
  EXPECT_EQ(value_of("\xc0\xaf").contains("base64"), true);          // overlong '/'
  EXPECT_EQ(value_of("\xed\xa0\x80").contains("base64"), true);      // surrogate
  EXPECT_EQ(value_of("\xf4\x90\x80\x80").contains("base64"), true);  // above U+10FFFF
  EXPECT_EQ(value_of("ab\xe2\x82").contains("base64"), true);        // cut short
  EXPECT_EQ(nlohmann::json::parse(client::record_json_line("\x80", "v", 1, 1))["key"]["base64"],
            "gA==");
}

TEST(RecordJsonLine, Base64MatchesRfc4648) {
  const std::pair<const char*, const char*> cases[] = {{"", ""},
                                                       {"f", "Zg=="},
                                                       {"fo", "Zm8="},
                                                       {"foo", "Zm9v"},
                                                       {"foob", "Zm9vYg=="},
                                                       {"fooba", "Zm9vYmE="},
                                                       {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, want] : cases) {
    std::string out;
    client::append_base64(in, &out);
    EXPECT_EQ(out, want) << in;
  }
}

}  // namespace
}  // namespace cv::fmt

namespace cv::fmt {
namespace {

TEST_F(BackupFormatTest, RecordsKeepTheirExpiryAndOnlyThoseWithOneSpendBytesOnIt) {
  std::vector<Rec> recs = Simple(300);
  ASSERT_TRUE(Write(recs));
  const uint64_t plain_size = FileSize();
  std::unique_ptr<BackupWriter> w;
  ASSERT_TRUE(BackupWriter::create(path_ + ".2", info_, &w));
  for (size_t i = 0; i < recs.size(); ++i) {
    const Rec& r = recs[i];
    ASSERT_TRUE(w->add({r.key, r.value, r.version, r.timestamp, false, i % 3 == 0 ? 1'800'000'000'000ull + i : 0}));
  }
  ASSERT_TRUE(w->finish(false));
  path_ += ".2";
  ASSERT_TRUE(Read());
  EXPECT_EQ(reader_->format_version(), 2u);
  EXPECT_EQ(FileSize(), plain_size + 100 * kRecordExpirySize);
  size_t i = 0;
  for (RecordCursor c = reader_->cursor(); c.valid(); c.next(), ++i) {
    EXPECT_EQ(c.record().key, recs[i].key);
    EXPECT_EQ(c.record().value, recs[i].value);
    EXPECT_EQ(c.record().expire_ms, i % 3 == 0 ? 1'800'000'000'000ull + i : 0u) << i;
  }
  EXPECT_EQ(i, recs.size());
  // A seek lands on the right record whether or not the block's first
  // record carries an expiry (the index takes its key past it).
  RecordCursor c = reader_->cursor();
  c.seek(KeyOf(150));
  ASSERT_TRUE(c.valid());
  EXPECT_EQ(c.record().key, KeyOf(150));
  EXPECT_EQ(c.record().expire_ms, 1'800'000'000'150ull);
}

TEST_F(BackupFormatTest, AVersionOneFileWrittenByTheEarlierWriterStillReads) {
  // Written by cachevault 0.1.0 before records had an expiry: a consolidated
  // backup of alpha and gamma (beta was deleted).
  path_ = std::string(CACHEVAULT_SOURCE_DIR) + "/tests/fixtures/backup_format_v1.cvb";
  ASSERT_TRUE(Read());
  EXPECT_EQ(reader_->format_version(), 1u);
  const std::vector<Rec> got = ReadAll();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key, "alpha");
  EXPECT_EQ(got[0].value, "value-of-alpha");
  EXPECT_EQ(got[1].key, "gamma");
  RecordCursor c = reader_->cursor();
  EXPECT_EQ(c.record().expire_ms, 0u);
  Output o = Capture([&] { return client::run_verify(path_); });
  EXPECT_EQ(o.code, 0) << o.err;
  o = Capture([&] { return client::run_inspect(path_, true, false); });
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(nlohmann::json::parse(o.out)["format_version"], 1);
}

TEST_F(BackupFormatTest, TheExpiryFlagIsUnknownInAVersionOneFile) {
  // The same bytes read as version 2 and as version 1: only version 2
  // knows the flag.
  char rec[kRecordHeaderSize + kRecordExpirySize + 3];
  RecordView r{"abc", "", 1, 2, false, 12345};
  encode_record_header(rec, r);
  std::memcpy(rec + kRecordHeaderSize + kRecordExpirySize, "abc", 3);
  RecordView out;
  const char* why = nullptr;
  EXPECT_EQ(decode_record(rec, sizeof rec, &out, &why, 2), sizeof rec);
  EXPECT_EQ(out.expire_ms, 12345u);
  EXPECT_EQ(out.key, "abc");
  EXPECT_EQ(decode_record(rec, sizeof rec, &out, &why, 1), 0u);
  EXPECT_STREQ(why, "unknown record flags");
  // Flagged, but expiry 0: corrupt.
  std::memset(rec + kRecordHeaderSize, 0, kRecordExpirySize);
  EXPECT_EQ(decode_record(rec, sizeof rec, &out, &why, 2), 0u);
  // Flagged, but the file ends inside the expiry.
  r.expire_ms = 7;
  encode_record_header(rec, r);
  EXPECT_EQ(decode_record(rec, kRecordHeaderSize + 4, &out, &why, 2), 0u);
}

}  // namespace
}  // namespace cv::fmt
