// SCHED_IDLE for background threads.
#include "shm/background_thread.h"

#include <pthread.h>
#include <sched.h>

namespace cv::shm {

namespace {
// The calling thread's policy as last set or read: -1 until first asked.
thread_local int thread_policy = -1;
}  // namespace

bool run_as_background() {
  sched_param p{};
  p.sched_priority = 0;
  const bool ok = pthread_setschedparam(pthread_self(), SCHED_IDLE, &p) == 0;
  if (ok) thread_policy = SCHED_IDLE;
  return ok;
}

void run_as_foreground() {
  sched_param p{};
  p.sched_priority = 0;
  if (pthread_setschedparam(pthread_self(), SCHED_OTHER, &p) == 0) thread_policy = SCHED_OTHER;
}

bool in_background() {
  if (thread_policy < 0) thread_policy = sched_getscheduler(0);
  return thread_policy == SCHED_IDLE;
}

ForegroundScope::ForegroundScope() : raised_(in_background()) {
  if (raised_) run_as_foreground();
}

ForegroundScope::~ForegroundScope() {
  if (raised_) run_as_background();
}

}  // namespace cv::shm
