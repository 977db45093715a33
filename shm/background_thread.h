// Background work (hot backup, transfer, consolidation) runs under Linux's
// SCHED_IDLE policy, so that it takes only CPU time no request wants. That
// alone is not enough on a small machine: measured here, a request loop
// woken next to a busy background thread often waited for the next
// scheduler tick (4 ms) before it ran, and a write crosses two or three
// processes. So background loops also call background_yield_point() often;
// every half millisecond of running it hands the core to whoever waits,
// and reports that the work goes on.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>

#include "shm/clock.h"

namespace cv::shm {

inline constexpr uint64_t kBackgroundRunNs = 500'000;

// The shared-memory stamp the calling thread's work reports its progress
// to (see ScheduleEntry::progress_ns), or null.
inline thread_local std::atomic<uint64_t>* progress_stamp = nullptr;

// Stamps the clock into the calling thread's progress stamp, if it has one.
inline void report_progress(uint64_t now = mono_ns()) {
  if (progress_stamp != nullptr) progress_stamp->store(now, std::memory_order_relaxed);
}

// Cheap enough to call once per record: a counter, and a clock read every
// 256 calls.
inline void background_yield_point() {
  thread_local uint32_t calls = 0;
  thread_local uint64_t since = 0;
  if (++calls % 256 != 0) return;
  const uint64_t now = mono_ns();
  if (now - since < kBackgroundRunNs) return;
  since = now;
  report_progress(now);
  sched_yield();
}

// Puts the calling thread (and threads it starts later) under SCHED_IDLE.
// Returns false if the system refused (the thread then runs as before).
bool run_as_background();

// Gives the calling thread back the normal policy.
void run_as_foreground();

// Whether the calling thread runs under SCHED_IDLE (asked of the kernel once
// per thread, since threads inherit the policy of the one that started them).
bool in_background();

// For as long as it lives, a background thread runs under the normal
// policy; other threads are left alone. Taken around a lock that request
// loops also take: an idle-priority holder gets a core only when nothing
// else wants one, so on a busy machine a request loop waiting behind it
// would wait that long too (measured here: 15 ms and more).
class ForegroundScope {
 public:
  ForegroundScope();
  ~ForegroundScope();
  ForegroundScope(const ForegroundScope&) = delete;
  ForegroundScope& operator=(const ForegroundScope&) = delete;

 private:
  bool raised_;
};

}  // namespace cv::shm
