// Killing and reaping cluster processes safely: a pid is killed only while
// it still names the process the launcher recorded (pid and start time in
// the block's node slot), and every wait for a child has a deadline.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shm/status.h"

namespace cv::launcher {

// A process recorded in a cluster's block.
struct RecordedProcess {
  int slot;
  int pid;
  uint64_t start_ticks;
};

// The processes recorded in the block of `cluster`, read even if its
// launcher is gone (attach refuses those). Empty if there is no block.
// A block that is not this user's, or not 0600, is refused.
Status recorded_processes(const std::string& cluster, std::vector<RecordedProcess>* out);

// SIGKILLs every recorded process that is still alive and still the same
// process (same start time); one whose pid now names another process is
// left alone and reported. Returns how many were killed.
int kill_recorded_processes(const std::string& cluster);

// Waits for the child `pid` to exit, at most timeout_ms; true if reaped.
bool reap_within(int pid, uint64_t timeout_ms);

// Creates the cluster's data dir if missing (mode 0700, parents as needed)
// and the private subdirectories the processes use (logs, nodeN, targetN,
// backups: mode 0700). An existing data dir keeps its mode: it may be
// shared, as /tmp is. An existing subdirectory must be a directory (not a
// symlink) owned by this user.
Status make_private_dirs(const std::string& data_dir, const std::vector<std::string>& subdirs);

}  // namespace cv::launcher
