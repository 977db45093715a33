// SCHED_IDLE for background threads.
#include "shm/background_thread.h"

#include <pthread.h>
#include <sched.h>

namespace cv::shm {

bool run_as_background() {
  sched_param p{};
  p.sched_priority = 0;
  return pthread_setschedparam(pthread_self(), SCHED_IDLE, &p) == 0;
}

void run_as_foreground() {
  sched_param p{};
  p.sched_priority = 0;
  pthread_setschedparam(pthread_self(), SCHED_OTHER, &p);
}

}  // namespace cv::shm
