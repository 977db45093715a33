// Which of two versions of one key wins: the one rule that serving nodes
// (applying a replicated or restored write), clients (newest replica of a
// get or scan) and the target (consolidating copies) all follow, so that
// every party picks the same survivor whatever order the versions came in.
//
// Higher version wins; then the later timestamp; then a tombstone over a
// value (a delete racing a write of the same version is not undone); then
// the bytewise greater value, so that even two different writes that share
// version and timestamp (replicas that diverged across a failure) resolve
// the same way everywhere. Identical versions compare equal: applying one
// again changes nothing.
#pragma once

#include <cstdint>
#include <string_view>

namespace cv::shm {

struct RecordVersion {
  uint64_t version = 0;
  uint64_t timestamp = 0;
  bool tombstone = false;
  std::string_view value;  // only looked at when everything else ties
};

// > 0 if a wins over b, < 0 if b wins, 0 if they are the same version.
inline int compare_versions(const RecordVersion& a, const RecordVersion& b) {
  if (a.version != b.version) return a.version > b.version ? 1 : -1;
  if (a.timestamp != b.timestamp) return a.timestamp > b.timestamp ? 1 : -1;
  if (a.tombstone != b.tombstone) return a.tombstone ? 1 : -1;
  const int c = a.value.compare(b.value);
  return c > 0 ? 1 : c < 0 ? -1 : 0;
}

// True if a must replace b.
inline bool wins(const RecordVersion& a, const RecordVersion& b) { return compare_versions(a, b) > 0; }

}  // namespace cv::shm
