// A warning that may repeat at a peer's pace (a malformed message per
// request, a table that stays unreadable) is logged at most once per
// period, with how many were left out since the last line: the log stays
// readable and its disk use bounded whatever a broken peer sends.
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "shm/clock.h"

namespace cv::shm {

class RateLimitedLog {
 public:
  explicit RateLimitedLog(uint64_t period_ms) : period_ns_(period_ms * 1'000'000ull) {}

  template <typename... Args>
  void warn(spdlog::format_string_t<Args...> format, Args&&... args) {
    const uint64_t now = mono_ns();
    uint64_t last = last_ns_.load(std::memory_order_relaxed);
    if (last != 0 && now - last < period_ns_) {
      suppressed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (!last_ns_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
      suppressed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const uint64_t left_out = suppressed_.exchange(0, std::memory_order_relaxed);
    std::string line = fmt::format(format, std::forward<Args>(args)...);
    if (left_out) line += " (" + std::to_string(left_out) + " more like it since the last report)";
    spdlog::warn("{}", line);
  }

  // How many calls were left out since the last line (tests).
  uint64_t suppressed() const { return suppressed_.load(std::memory_order_relaxed); }

 private:
  const uint64_t period_ns_;
  std::atomic<uint64_t> last_ns_{0};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace cv::shm
