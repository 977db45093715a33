// Micro-benchmarks of the backup file format: encoding (writer), decoding
// (cursor), verify_all, each in bytes/s of file, beside memcpy of as many
// bytes as the yardstick.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "shm/backup_reader.h"
#include "shm/backup_writer.h"

namespace {

using namespace cv::fmt;

constexpr size_t kValueBytes = 100;

// A fresh directory under /tmp, removed at exit.
class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/cv-format-bench-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

ScratchDir& scratch() {
  static ScratchDir dir;
  return dir;
}

void make_key(uint64_t i, char* out) {  // 16 bytes, ascending with i
  std::memcpy(out, "key-", 4);
  for (int d = 11; d >= 0; --d, i /= 10) out[4 + d] = static_cast<char>('0' + i % 10);
}

// Writes n records of kValueBytes values; returns the file size.
uint64_t write_file(const std::string& path, uint64_t n) {
  FileHeaderInfo info;
  info.kind = kConsolidated;
  std::unique_ptr<BackupWriter> w;
  if (!BackupWriter::create(path, info, &w)) std::abort();
  const std::string value(kValueBytes, 'v');
  char key[16];
  for (uint64_t i = 0; i < n; ++i) {
    make_key(i, key);
    if (!w->add({std::string_view(key, sizeof key), value, i, i, false})) std::abort();
  }
  if (!w->finish(/*durable=*/false)) std::abort();
  return w->bytes_written();
}

// A file of n records written once per n and kept for the read benchmarks.
const std::string& fixture(uint64_t n) {
  static std::string path;
  static uint64_t made = 0;
  if (made != n) {
    path = scratch().path() + "/fixture-" + std::to_string(n);
    write_file(path, n);
    made = n;
  }
  return path;
}

// Opens the fixture and touches every page, so that the loops measure
// decoding, not first-touch page faults.
std::unique_ptr<BackupReader> open_warm(uint64_t n) {
  std::unique_ptr<BackupReader> r;
  if (!BackupReader::open(fixture(n), &r)) std::abort();
  uint64_t sum = 0;
  for (size_t i = 0; i < r->size(); i += 4096) sum += static_cast<unsigned char>(r->data()[i]);
  benchmark::DoNotOptimize(sum);
  return r;
}

void BM_Encode(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  const std::string path = scratch().path() + "/encode";
  uint64_t bytes = 0;
  for (auto _ : state) {
    bytes += write_file(path, n);
    // Freeing the old file's pages is the kernel's cost, not the encoder's.
    state.PauseTiming();
    ::unlink(path.c_str());
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(static_cast<int64_t>(n * state.iterations()));
}

void BM_Decode(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  std::unique_ptr<BackupReader> r = open_warm(n);
  for (auto _ : state) {
    uint64_t sum = 0;
    for (RecordCursor c = r->cursor(); c.valid(); c.next()) {
      sum += c.record().key.size() + c.record().value.size() + c.record().version;
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(static_cast<int64_t>(r->size() * state.iterations()));
  state.SetItemsProcessed(static_cast<int64_t>(n * state.iterations()));
}

void BM_VerifyAll(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  std::unique_ptr<BackupReader> r = open_warm(n);
  for (auto _ : state) {
    if (!r->verify_all()) std::abort();
  }
  state.SetBytesProcessed(static_cast<int64_t>(r->size() * state.iterations()));
  state.SetItemsProcessed(static_cast<int64_t>(n * state.iterations()));
}

// The yardstick: copying as many bytes as the file holds.
void BM_Memcpy(benchmark::State& state) {
  const auto n = static_cast<uint64_t>(state.range(0));
  std::unique_ptr<BackupReader> r = open_warm(n);
  std::vector<char> dst(r->size());  // zero-filled, so its pages are faulted in too
  for (auto _ : state) {
    std::memcpy(dst.data(), r->data(), r->size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(r->size() * state.iterations()));
}

// 1 M records of ~140 bytes on disk: a file of ~140 MB, past every cache.
BENCHMARK(BM_Encode)->Arg(1 << 20)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Decode)->Arg(1 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VerifyAll)->Arg(1 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Memcpy)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
