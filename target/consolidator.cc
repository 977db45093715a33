// Parallel k-way merge of sorted copies over key ranges.
#include "target/consolidator.h"

#include <tbb/parallel_for.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cstring>

#include "shm/background_thread.h"
#include "shm/backup_writer.h"
#include "shm/clock.h"
#include "shm/expiry.h"
#include "shm/key_prefix.h"
#include "shm/record_order.h"

namespace cv::target {

namespace {

// Key ranges per thread: many small ranges keep both cores busy when ranges
// differ in size and keep each range's merged records small.
constexpr size_t kRangesPerThread = 32;
// Records written between two calls of the progress hook.
constexpr uint64_t kProgressRecords = 4096;

// True if a should replace b as the surviving version of one key: the
// cluster's one rule (shm/record_order.h).
bool wins(const fmt::RecordView& a, const fmt::RecordView& b) {
  return shm::wins({a.version, a.timestamp, a.tombstone, a.value}, {b.version, b.timestamp, b.tombstone, b.value});
}

// Splits the key space into about `parts` ranges using the copies' block
// first keys as samples: range i is [splitters[i-1], splitters[i]).
std::vector<std::string_view> choose_splitters(const std::vector<std::unique_ptr<fmt::BackupReader>>& copies,
                                               size_t parts) {
  std::vector<std::string_view> samples;
  for (const auto& c : copies)
    for (const auto& b : c->blocks()) samples.push_back(b.first_key);
  std::sort(samples.begin(), samples.end());
  samples.erase(std::unique(samples.begin(), samples.end()), samples.end());
  std::vector<std::string_view> out;
  if (samples.size() < 2 || parts < 2) return out;
  for (size_t i = 1; i < parts; ++i) out.push_back(samples[i * samples.size() / parts]);
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Merges keys in [lo, hi) (hi empty = to the end) of every copy; appends the
// surviving records (views into the copies' mappings) to out.
void merge_range(const std::vector<std::unique_ptr<fmt::BackupReader>>& copies, std::string_view lo, bool has_lo,
                 std::string_view hi, bool has_hi, uint64_t now_ms, std::vector<fmt::RecordView>* out) {
  // Each copy's current record, with its key prefix and whether it is still
  // in the range, computed once per record rather than once per comparison.
  struct Head {
    fmt::RecordCursor cursor;
    shm::KeyPrefix prefix;
    bool live = false;
  };
  auto refresh = [&](Head& h) {
    h.live = h.cursor.valid() && (!has_hi || h.cursor.record().key < hi);
    if (h.live) h.prefix = shm::KeyPrefix::of(h.cursor.record().key);
  };
  std::vector<Head> heads;
  heads.reserve(copies.size());
  for (const auto& c : copies) {
    Head h{c->cursor(0), {}, false};
    if (has_lo) h.cursor.seek(lo);
    refresh(h);
    heads.push_back(h);
  }
  for (;;) {
    // The copies are few (R to a handful of nodes): a linear scan for the
    // smallest key beats a heap.
    const Head* best = nullptr;
    for (const auto& h : heads)
      if (h.live && (best == nullptr || shm::compare_keys(h.prefix, h.cursor.record().key, best->prefix,
                                                          best->cursor.record().key) < 0))
        best = &h;
    if (best == nullptr) break;
    const shm::KeyPrefix key_prefix = best->prefix;
    const std::string_view key = best->cursor.record().key;
    fmt::RecordView winner = best->cursor.record();
    for (auto& h : heads)
      if (h.live && shm::compare_keys(h.prefix, h.cursor.record().key, key_prefix, key) == 0) {
        if (wins(h.cursor.record(), winner)) winner = h.cursor.record();
        h.cursor.next();
        refresh(h);
      }
    // A record that expired since its copy was taken is left out too.
    if (!winner.tombstone && !shm::is_expired(winner.expire_ms, now_ms)) out->push_back(winner);
    shm::background_yield_point();
  }
}

}  // namespace

Status open_copy(const std::string& path, uint64_t expected_records, std::unique_ptr<fmt::BackupReader>* out) {
  Status st = fmt::BackupReader::open(path, out);
  if (st) st = (*out)->verify_all();
  if (st && expected_records != UINT64_MAX && (*out)->record_count() != expected_records)
    st = Status::corrupt(path + ": holds " + std::to_string((*out)->record_count()) + " records, the node sent " +
                             std::to_string(expected_records),
                         0);
  if (st && (*out)->kind() != fmt::kNodeCopy) st = Status::corrupt(path + ": is not a node copy", 0);
  if (!st) return Status(st.code(), "copy " + path + ": " + st.message());
  return st;
}

Status open_copies(const std::vector<std::string>& paths, const std::vector<uint64_t>& expected,
                   std::vector<std::unique_ptr<fmt::BackupReader>>* out) {
  out->clear();
  out->resize(paths.size());
  std::vector<Status> st(paths.size());
  tbb::parallel_for(size_t(0), paths.size(), [&](size_t i) { st[i] = open_copy(paths[i], expected[i], &(*out)[i]); });
  for (const auto& s : st)
    if (!s) return s;
  return Status::ok();
}

Status consolidate(const std::vector<std::unique_ptr<fmt::BackupReader>>& copies, const fmt::FileHeaderInfo& info,
                   const std::string& final_path, const std::function<Status()>& before_rename,
                   const std::function<void()>& progress, ConsolidationResult* result, shm::FileEnv& env) {
  const uint64_t t0 = mono_ns();
  for (const auto& c : copies) result->input_bytes += c->size();
  std::unique_ptr<fmt::BackupWriter> w;
  fmt::FileHeaderInfo hi = info;
  hi.kind = fmt::kConsolidated;
  if (Status s = fmt::BackupWriter::create(final_path, hi, &w, env); !s) return s;
  // The disk is the slowest part: have it write each piece as soon as it
  // leaves the buffer, while the merge goes on, instead of all at the end.
  w->write_back_early();

  // Key ranges are merged in parallel and written in order as they finish:
  // a few ranges in flight keep both cores merging and the writer fed,
  // without holding the whole result in memory.
  const size_t threads = size_t(tbb::this_task_arena::max_concurrency());
  auto splitters = choose_splitters(copies, std::max<size_t>(1, threads * kRangesPerThread));
  const size_t ranges = splitters.size() + 1;
  size_t next = 0;
  Status st = Status::ok();
  // One instant for the whole merge, so every range judges expiry alike.
  const uint64_t now_ms = shm::wall_ms();
  // The last stage, in key order: appends a merged range to the file.
  auto write_range = [&](const std::vector<fmt::RecordView>& recs) {
    for (const auto& rec : recs) {
      shm::background_yield_point();
      if (!st) return;
      st = w->add(rec);
      if (progress && w->records() % kProgressRecords == 0) progress();
    }
  };
  tbb::parallel_pipeline(
      threads * 2,
      tbb::make_filter<void, size_t>(tbb::filter_mode::serial_in_order,
                                     [&](tbb::flow_control& fc) -> size_t {
                                       if (next == ranges) {
                                         fc.stop();
                                         return 0;
                                       }
                                       return next++;
                                     }) &
          tbb::make_filter<size_t, std::vector<fmt::RecordView>>(
              tbb::filter_mode::parallel,
              [&](size_t i) {
                std::vector<fmt::RecordView> out;
                merge_range(copies, i > 0 ? splitters[i - 1] : std::string_view(), i > 0,
                            i < splitters.size() ? splitters[i] : std::string_view(), i < splitters.size(), now_ms,
                            &out);
                return out;
              }) &
          tbb::make_filter<std::vector<fmt::RecordView>, void>(tbb::filter_mode::serial_in_order, write_range));
  if (!st) return st;
  const uint64_t t1 = mono_ns();
  result->merge_ns = t1 - t0;
  // A backup file never replaces another one.
  if (Status s = w->finish(true, shm::Replace::kNever, before_rename); !s) return s;
  result->records = w->records();
  result->bytes = w->bytes_written();
  result->write_ns = mono_ns() - t1;
  return Status::ok();
}

}  // namespace cv::target
