// Clock helpers: wall time for record timestamps, monotonic time for deadlines.
//
// Every deadline, heartbeat and stall check in cachevault reads mono_ns().
// A cluster started with CACHEVAULT_TEST_CLOCK=1 (tests only) carries a
// clock offset in its block that every attached process adds to the
// monotonic clock; a test moves it forward (tests/support/test_clock.h) to
// let a 10 s timeout pass in a moment, in every process at once. Without
// it no offset is installed and mono_ns() is a plain clock read.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>

namespace cv {

// The offset (ms) of the test clock of the block this process attached to
// last, or null (shm/block.cc install_test_clock).
inline std::atomic<const std::atomic<uint32_t>*> g_test_clock_offset_ms{nullptr};

inline uint64_t wall_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

inline uint64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const uint64_t t = uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
  if (const auto* offset = g_test_clock_offset_ms.load(std::memory_order_relaxed)) [[unlikely]]
    return t + uint64_t(offset->load(std::memory_order_relaxed)) * 1'000'000ull;
  return t;
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
