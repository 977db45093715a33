// backup: asks a serving node for a backup, follows the schedule in the block
// to its end (progress on a terminal), prints the file or a JSON summary.
// `--wait ID` follows a backup started elsewhere.
#pragma once

#include <cstdint>
#include <string>

namespace cv::client {

struct BackupOptions {
  std::string out_dir;
  uint64_t wait_id = 0;
  double timeout_s = 600;
  bool allow_partial = false;  // leave lost partitions out (the file lists them)
  bool json = false;
  bool quiet = false;  // no progress display
};

int cmd_backup(const std::string& cluster, const BackupOptions& o);

}  // namespace cv::client
