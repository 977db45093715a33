// A process-shared, robust pthread mutex that lives in shared memory, and the
// RAII guard every lock of it goes through: always with a deadline, and
// telling the caller whether the previous owner died while holding it.
#pragma once

#include <pthread.h>

#include <cstdint>

#include "shm/background_thread.h"

namespace cv::shm {

// Placed inside a shared mapping. Initialise once, by the creator of the
// mapping, before any other process can see it.
struct RobustMutex {
  pthread_mutex_t mu;
  void init();
};

enum class LockResult {
  kLocked,      // got it; the protected state is consistent
  kOwnerDied,   // got it, but the previous owner died inside: repair, then it
                // is marked consistent when the guard is released
  kTimedOut,    // did not get it before the deadline
  kBroken,      // the mutex is unusable (should not happen: we always mark it consistent)
};

// Locks in the constructor with a deadline on CLOCK_MONOTONIC; unlocks in the
// destructor. Check locked() (or result()) before touching the state.
// Not thread-safe itself; one guard per critical section. A background
// thread waits for and holds the lock under the normal policy, so that a
// request loop never waits behind an idle-priority holder.
class LockGuard {
 public:
  LockGuard(RobustMutex& m, uint64_t timeout_ms);
  ~LockGuard();
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

  bool locked() const { return result_ == LockResult::kLocked || result_ == LockResult::kOwnerDied; }
  bool owner_died() const { return result_ == LockResult::kOwnerDied; }
  LockResult result() const { return result_; }

 private:
  ForegroundScope foreground_;  // made before locking, ended after unlocking
  RobustMutex& m_;
  LockResult result_;
};

}  // namespace cv::shm
