// Clock helpers: wall time for record timestamps, monotonic time for deadlines.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>

namespace cv {

inline uint64_t wall_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

inline uint64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

// A point on the monotonic clock after which a wait gives up.
struct Deadline {
  uint64_t at_ns;
  static Deadline in_ms(uint64_t ms) { return {mono_ns() + ms * 1'000'000ull}; }
  bool passed() const { return mono_ns() >= at_ns; }
  uint64_t remaining_ns() const {
    uint64_t now = mono_ns();
    return now >= at_ns ? 0 : at_ns - now;
  }
};

}  // namespace cv
