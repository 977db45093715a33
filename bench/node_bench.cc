// Micro-benchmarks of a serving node's and a target's hot paths: inserting
// records, the hot-backup snapshot (copy, sort, encode to a file) and the
// k-way merge of consolidation, beside a memcpy of the same bytes.
#include <benchmark/benchmark.h>
#include <tbb/global_control.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "node/distribution.h"
#include "node/record_store.h"
#include "shm/backup_reader.h"
#include "shm/backup_writer.h"
#include "target/consolidator.h"

namespace {

using cv::node::RecordStore;
using cv::node::SnapshotRecords;

constexpr uint32_t kPartitions = 256;

std::string key_of(uint64_t i) {
  char buf[32];
  snprintf(buf, sizeof buf, "key-%010llu", static_cast<unsigned long long>(i));
  return buf;
}

void fill(RecordStore& store, uint64_t n, uint64_t step = 1, uint64_t first = 0) {
  std::string value(100, 'v');
  for (uint64_t i = first; i < n; i += step) {
    std::string k = key_of(i);
    store.apply(cv::node::partition_of(k, kPartitions), k, value, 1, i, false, cv::shm::Policy::kNewer, nullptr);
  }
}

std::string scratch() {
  static std::string dir = [] {
    char tmpl[] = "/tmp/cachevault-nodebench-XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  return dir;
}

void BM_NodeInsert(benchmark::State& state) {
  const uint64_t n = uint64_t(state.range(0));
  for (auto _ : state) {
    RecordStore store(kPartitions, 0);
    fill(store, n);
    benchmark::DoNotOptimize(store.records());
  }
  state.counters["records/s"] = benchmark::Counter(double(state.iterations() * n), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_NodeInsert)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

void BM_SnapshotCaptureSortWrite(benchmark::State& state) {
  const uint64_t n = uint64_t(state.range(0));
  RecordStore store(kPartitions, 0);
  fill(store, n);
  double copy_s = 0, sort_s = 0, write_s = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    SnapshotRecords snap;
    snap.entries.reserve(store.records());
    store.begin_snapshot();
    for (uint32_t p = 0; p < kPartitions; ++p) store.capture(p, &snap);
    store.end_snapshot();
    auto t1 = std::chrono::steady_clock::now();
    snap.sort();
    auto t2 = std::chrono::steady_clock::now();
    std::unique_ptr<cv::fmt::BackupWriter> w;
    cv::fmt::FileHeaderInfo info;
    info.kind = cv::fmt::kNodeCopy;
    cv::fmt::BackupWriter::create(scratch() + "/snap.copy", info, &w);
    for (size_t i = 0; i < snap.entries.size(); ++i) {
      snap.prefetch(i + SnapshotRecords::kPrefetchAhead);
      const auto& e = snap.entries[i];
      w->add({snap.key(e), snap.value(e), e.blob->version(), e.blob->timestamp(), e.blob->tombstone()});
    }
    w->finish(false);
    store.release_snapshot();
    auto t3 = std::chrono::steady_clock::now();
    copy_s += std::chrono::duration<double>(t1 - t0).count();
    sort_s += std::chrono::duration<double>(t2 - t1).count();
    write_s += std::chrono::duration<double>(t3 - t2).count();
  }
  const double it = double(state.iterations());
  state.counters["copy_ms"] = copy_s / it * 1e3;
  state.counters["sort_ms"] = sort_s / it * 1e3;
  state.counters["write_ms"] = write_s / it * 1e3;
  state.counters["records/s"] = benchmark::Counter(double(state.iterations() * n), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SnapshotCaptureSortWrite)->Arg(1 << 20)->Unit(benchmark::kMillisecond)->UseRealTime();

// Three node copies of 2/3 of the keys each (R=2 over 3 nodes), merged with
// range(1) TBB threads. The durable write (fsync) is part of it, as in a backup.
void BM_Consolidate(benchmark::State& state) {
  const uint64_t n = uint64_t(state.range(0));
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism, size_t(state.range(1)));
  std::vector<std::string> paths;
  uint64_t input = 0;
  for (int node = 0; node < 3; ++node) {
    std::string path = scratch() + "/copy" + std::to_string(node);
    std::unique_ptr<cv::fmt::BackupWriter> w;
    cv::fmt::FileHeaderInfo info;
    info.kind = cv::fmt::kNodeCopy;
    cv::fmt::BackupWriter::create(path, info, &w);
    std::string value(100, 'v');
    std::vector<std::string> keys;
    for (uint64_t i = 0; i < n; ++i)
      if (i % 3 != uint64_t(node)) keys.push_back(key_of(i));
    for (const auto& k : keys) w->add({k, value, 1, 1, false});
    w->finish(false);
    paths.push_back(path);
    input += std::filesystem::file_size(path);
  }
  double verify_s = 0, merge_s = 0, write_s = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<cv::fmt::BackupReader>> copies;
    cv::target::open_copies(paths, std::vector<uint64_t>(3, UINT64_MAX), &copies);
    verify_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cv::target::ConsolidationResult res;
    cv::fmt::FileHeaderInfo info;
    cv::target::consolidate(copies, info, scratch() + "/merged.cvb", nullptr, {}, &res);
    merge_s += double(res.merge_ns) / 1e9;
    write_s += double(res.write_ns) / 1e9;
  }
  const double it = double(state.iterations());
  state.counters["verify_ms"] = verify_s / it * 1e3;
  state.counters["merge_ms"] = merge_s / it * 1e3;
  state.counters["write_fsync_ms"] = write_s / it * 1e3;
  state.SetBytesProcessed(int64_t(state.iterations() * input));
  state.counters["records/s"] = benchmark::Counter(double(state.iterations() * n), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Consolidate)->Args({1 << 20, 1})->Args({1 << 20, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MemcpyOfCopies(benchmark::State& state) {
  const size_t bytes = size_t(state.range(0)) * 2 * 137;  // what the copies of BM_Consolidate hold
  std::vector<char> src(bytes, 'x'), dst(bytes, 'y');
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations() * bytes));
}
BENCHMARK(BM_MemcpyOfCopies)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
