// The hidden `__serve` command: what a forked cluster process runs.
#pragma once

#include <string>

namespace cv::launcher {

int run_child(const std::string& cluster, const std::string& role, int index);

}  // namespace cv::launcher
