// bench: an end-to-end benchmark on real clusters (load, backup, restore),
// with the machine's memcpy bandwidth measured in the same run.
#pragma once

#include <cstdint>
#include <string>

namespace cv::launcher {

struct BenchOptions {
  uint64_t records = 1000000;
  uint64_t value_size = 100;
  int nodes = 3;
  int replicas = 2;
  std::string dir;
  std::string plot;
  bool json = false;
};

int run_bench(const BenchOptions& o);

}  // namespace cv::launcher
