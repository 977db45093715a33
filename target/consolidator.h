// Consolidation: merges the sorted copies that serving nodes sent into one
// backup file. For each key the copy with the highest (version, timestamp)
// wins; on a tie a tombstone wins, then the larger value bytes, so the result
// never depends on the order of the copies. Tombstones win over older values
// and are then dropped. Key ranges are merged in parallel with TBB and
// written in order as they finish.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shm/backup_format.h"
#include "shm/backup_reader.h"
#include "shm/file_env.h"
#include "shm/status.h"

namespace cv::target {

struct ConsolidationResult {
  uint64_t records = 0;
  uint64_t bytes = 0;          // size of the file written
  uint64_t input_bytes = 0;    // sum of the copies' sizes
  uint64_t verify_ns = 0;
  uint64_t merge_ns = 0;  // merging and writing, which overlap
  uint64_t write_ns = 0;  // the end: index, footer, fsync, rename
};

// Opens and fully verifies one copy; a damaged copy is an error naming it.
// expected_records (if not UINT64_MAX) must match its record count.
Status open_copy(const std::string& path, uint64_t expected_records, std::unique_ptr<fmt::BackupReader>* out);

// open_copy for each copy, in parallel.
Status open_copies(const std::vector<std::string>& paths, const std::vector<uint64_t>& expected_records,
                   std::vector<std::unique_ptr<fmt::BackupReader>>* out);

// Merges the copies into final_path (temp, fsync, rename without replacing,
// fsync dir). Called with the copies already verified. `before_rename` runs
// after the fsync, just before the rename; an error from it abandons the
// file (the temp is removed, nothing is published). `progress` is called every few thousand records
// written, so a watcher can tell a long consolidation from a stuck one.
Status consolidate(const std::vector<std::unique_ptr<fmt::BackupReader>>& copies, const fmt::FileHeaderInfo& info,
                   const std::string& final_path, const std::function<Status()>& before_rename,
                   const std::function<void()>& progress, ConsolidationResult* result,
                   shm::FileEnv& env = shm::FileEnv::real());

}  // namespace cv::target
