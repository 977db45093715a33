// The benchmark's SVG: records/s and seconds against the record count, so a
// reader sees how the cost grows with size.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "shm/status.h"

namespace cv::launcher {

// runs: bench results for increasing record counts.
Status write_bench_plot(const std::string& path, const nlohmann::json& runs);

}  // namespace cv::launcher
