// Robust mutex: on EOWNERDEAD the new owner gets the lock and the guard marks
// it consistent, so a SIGKILLed holder never hangs the others.
#include "shm/robust_mutex.h"

#include <cerrno>
#include <ctime>

namespace cv::shm {

void RobustMutex::init() {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  // Not priority-inheriting: PI mutexes take another kernel path and are not
  // needed here; plain robust ones report EOWNERDEAD as we need.
  pthread_mutex_init(&mu, &attr);
  pthread_mutexattr_destroy(&attr);
}

LockGuard::LockGuard(RobustMutex& m, uint64_t timeout_ms) : foreground_(), m_(m) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += time_t(timeout_ms / 1000);
  ts.tv_nsec += long(timeout_ms % 1000) * 1'000'000L;
  if (ts.tv_nsec >= 1'000'000'000L) {
    ts.tv_sec += 1;
    ts.tv_nsec -= 1'000'000'000L;
  }
  int rc = pthread_mutex_clocklock(&m_.mu, CLOCK_MONOTONIC, &ts);
  switch (rc) {
    case 0: result_ = LockResult::kLocked; break;
    case EOWNERDEAD:
      // The caller repairs what the dead owner left half-done while it holds
      // the lock; marking consistent now keeps the mutex usable afterwards.
      pthread_mutex_consistent(&m_.mu);
      result_ = LockResult::kOwnerDied;
      break;
    case ETIMEDOUT: result_ = LockResult::kTimedOut; break;
    default: result_ = LockResult::kBroken; break;
  }
}

LockGuard::~LockGuard() {
  if (locked()) pthread_mutex_unlock(&m_.mu);
}

}  // namespace cv::shm
