// The common start of a forked cluster process: attach to the cluster's
// block, set up this process's logger and failpoints, and turn SIGTERM and
// SIGINT into a stop request the process's loop polls.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "shm/block.h"

namespace cv::shm {

// Returns 0 and fills *block, or the exit code to end the process with
// (the reason is already on stderr or in the log).
int start_cluster_process(const std::string& cluster, const std::string& process_name,
                          std::unique_ptr<Block>* block);
// Set once SIGTERM or SIGINT arrived.
const std::atomic<bool>& stop_requested();

}  // namespace cv::shm
