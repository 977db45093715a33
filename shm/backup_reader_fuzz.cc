// libFuzzer target for BackupReader: any input must be refused or read
// without a crash, a hang or an unbounded allocation. See docs/backup_format.md.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

#include "shm/backup_format.h"
#include "shm/backup_reader.h"
#include "shm/backup_writer.h"

// cv_shm is built without coverage instrumentation, and a blind fuzzer finds
// little; compiling the reader into this target instruments it. The linker
// then takes no backup_reader.o from libcv_shm.a, so nothing is defined twice.
#include "shm/backup_reader.cc"  // NOLINT(bugprone-suspicious-include)

namespace {

using namespace cv::fmt;

// Opens bytes, verifies them and walks every record, also through seek.
void exercise(std::string_view bytes) {
  std::unique_ptr<BackupReader> reader;
  if (!BackupReader::open_memory(bytes, "fuzz-input", &reader)) return;
  (void)reader->verify_all();
  uint64_t seen = 0;
  RecordCursor c = reader->cursor();
  for (; c.valid(); c.next()) ++seen;
  // A cursor stops at the end or at damage, never past the promised count.
  if (c.status().is_ok() && seen != reader->record_count()) __builtin_trap();
  c.seek(reader->last_key());
  c.seek(std::string_view("\x7f", 1));
  for (size_t b = 0; b < reader->block_count(); ++b) c.seek(reader->block(b).first_key);
}

// Checksums would stop almost every mutation at the first check, so the
// fuzzer also tries each input with every checksum it can locate made
// right: that lets mutations reach the index, block and record parsers.
// Loose parsing, bounded by the input size at every step.
std::string with_fixed_checksums(std::string_view in) {
  std::string s(in);
  if (s.size() < kMinFileSize) return s;
  char* p = s.data();
  put_le<uint64_t>(p + kHeaderChecksumOffset, file_header_checksum(p));
  const uint64_t footer_at = s.size() - kFooterSize;
  const uint64_t entries_end = footer_at - kIndexChecksumSize;
  const uint64_t index_at = get_le<uint64_t>(p + footer_at + kFooterIndexOffset);
  if (index_at >= kFileHeaderSize && index_at <= entries_end) {
    for (uint64_t pos = index_at; entries_end - pos >= kIndexEntryFixedSize;) {
      const uint64_t block = get_le<uint64_t>(p + pos);
      if (block <= index_at && index_at - block >= kBlockHeaderSize) {
        const uint64_t payload = get_le<uint32_t>(p + block + kBlockPayloadBytesOffset);
        if (payload <= index_at - block - kBlockHeaderSize) {
          put_le<uint64_t>(p + block + kBlockChecksumOffset,
                           XXH3_64bits(p + block + kBlockHeaderSize, payload));
        }
      }
      pos += kIndexEntryFixedSize + get_le<uint16_t>(p + pos + kIndexEntryKeyLenOffset);
      if (pos > entries_end) break;
    }
    put_le<uint64_t>(p + entries_end, XXH3_64bits(p + index_at, entries_end - index_at));
  }
  put_le<uint64_t>(p + footer_at + kFooterChecksumOffset, XXH3_64bits(p, footer_at));
  return s;
}

// Writes a few small, valid files into dir: a seed corpus without keeping
// binary files in the repository.
void write_seeds(const std::string& dir) {
  struct Seed {
    const char* name;
    uint32_t kind;
    int records;
    size_t value_bytes;
    bool expiring = false;  // every other record carries an expiry
  };
  const Seed seeds[] = {{"empty", kConsolidated, 0, 0},      {"one", kConsolidated, 1, 5},
                        {"small", kConsolidated, 20, 10},    {"copy", kNodeCopy, 30, 4},
                        {"blocks", kConsolidated, 6, 30000}, {"many", kNodeCopy, 200, 0},
                        {"expiring", kConsolidated, 40, 8, true}, {"expiring-copy", kNodeCopy, 40, 3, true}};
  for (const Seed& seed : seeds) {
    FileHeaderInfo info;
    info.kind = seed.kind;
    info.backup_id = 9;
    info.source_nodes = 3;
    info.source_replicas = 2;
    info.source_partitions = 16;
    std::unique_ptr<BackupWriter> w;
    cv::Status s = BackupWriter::create(dir + "/" + seed.name, info, &w);
    for (int i = 0; s && i < seed.records; ++i) {
      char key[16];
      std::snprintf(key, sizeof key, "k%05d", i);
      const std::string value(seed.value_bytes + i % 3, static_cast<char>('a' + i % 26));
      const uint64_t expire_ms = seed.expiring && i % 2 == 0 ? 1'800'000'000'000ull + uint64_t(i) : 0;
      s = w->add({key, value, uint64_t(i), uint64_t(i) * 10, seed.kind == kNodeCopy && i % 3 == 0, expire_ms});
    }
    if (s) s = w->finish(/*durable=*/false);
    if (!s) std::fprintf(stderr, "seed %s: %s\n", seed.name, s.message().c_str());
  }
  // A version 1 file (before records had an expiry): "small" with its
  // header's version set back, checksums made right.
  std::ifstream in(dir + "/small", std::ios::binary);
  std::string v1{std::istreambuf_iterator<char>(in), {}};
  if (v1.size() >= kMinFileSize) {
    put_le<uint32_t>(v1.data() + kHeaderVersionOffset, 1);
    v1 = with_fixed_checksums(v1);
    std::ofstream(dir + "/small-v1", std::ios::binary).write(v1.data(), std::streamsize(v1.size()));
  }
}

}  // namespace

// CV_FUZZ_WRITE_SEEDS=DIR: write the seed corpus into DIR before fuzzing.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* dir = std::getenv("CV_FUZZ_WRITE_SEEDS")) write_seeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  exercise(bytes);
  const std::string fixed = with_fixed_checksums(bytes);
  if (fixed != bytes) exercise(fixed);
  return 0;
}
