// Scheduler states of processes and threads, read from /proc: to tell a
// process that is slow (running, or runnable and waiting for a core) from
// one that is stuck (asleep, or stopped, while it should be working).
#pragma once

#include <cstdint>

namespace cv::shm {

// The state letter of a process ('R' running or runnable, 'S', 'D', 'T',
// 'Z', ...), or 0 if it cannot be read (the process is gone).
char process_state(int pid);

// The same for one thread of a process.
char thread_state(int pid, int tid);

// True if some thread of the process is running or waiting for a core.
bool any_thread_runnable(int pid);

// When the process started, in clock ticks since boot (field 22 of
// /proc/PID/stat), or 0 if it cannot be read. With the pid it names one
// process for ever: a pid reused later has another start time.
uint64_t process_start_ticks(int pid);
// True if `pid` is still the process that had `start_ticks` (never for 0).
bool same_process(int pid, uint64_t start_ticks);

}  // namespace cv::shm
