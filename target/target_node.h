// TargetNode: one target process. It enables new backup schedules, checks
// the copies serving nodes send it, consolidates them into one backup file
// and completes the schedule; it owns a storage directory with a quota.
#pragma once

#include <atomic>
#include <string>

#include "shm/block.h"

namespace cv::target {

// Entry point of a forked target process (index t among the targets).
int run_target_node(const std::string& cluster, int t);

}  // namespace cv::target
