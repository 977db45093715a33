// restore: verifies a backup file, then streams its records into the running
// cluster through an entry node, with a window of batches in flight, the
// failed-record list, a resumable checkpoint and a progress bar.
#pragma once

#include <cstdint>
#include <string>

namespace cv::client {

struct RestoreOptions {
  std::string file;
  int window = 16;
  std::string policy = "newer";
  bool resume = false;
  int entry_node = -1;       // -1: the first live serving node
  std::string checkpoint;    // default: <cluster dir>/restore/<file name>.<checksum>.ckpt
  uint64_t limit = 0;        // > 0: only the first `limit` records
  bool json = false;
  bool quiet = false;        // no progress display
};

int cmd_restore(const std::string& cluster, const RestoreOptions& o);

}  // namespace cv::client
