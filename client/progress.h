// Progress: a one-line progress display on a terminal (count, rate, ETA);
// silent when stderr is not a terminal, so programs see only the result.
#pragma once

#include <cstdint>
#include <string>

namespace cv::client {

class Progress {
 public:
  Progress(std::string what, uint64_t total);
  void update(uint64_t done, const std::string& extra = "");
  void done(uint64_t done);

 private:
  std::string what_;
  uint64_t total_;
  uint64_t start_ns_;
  uint64_t last_ns_ = 0;
  bool tty_;
};

}  // namespace cv::client
