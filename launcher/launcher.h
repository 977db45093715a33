// The launcher: `cachevault cluster up` creates the block, forks the serving
// nodes and targets, waits until they are ready, supervises them (a child
// that dies is marked down and the distribution table recomputed without it)
// and tears everything down on SIGTERM/SIGINT or `cluster down`.
#pragma once

#include "launcher/cluster_options.h"

namespace cv::launcher {

// Runs `cluster up`; returns the process exit code. With detach, returns in
// the calling process once every child is ready while a daemon supervises.
int cluster_up(const ClusterOptions& options);
// Runs `cluster down`; returns the exit code. json: {"name", "stopped"}.
int cluster_down(const std::string& name, bool json = false);

}  // namespace cv::launcher
