// Scheduler states of processes and threads, read from /proc: to tell a
// process that is slow (running, or runnable and waiting for a core) from
// one that is stuck (asleep, or stopped, while it should be working).
#pragma once

namespace cv::shm {

// The state letter of a process ('R' running or runnable, 'S', 'D', 'T',
// 'Z', ...), or 0 if it cannot be read (the process is gone).
char process_state(int pid);

// The same for one thread of a process.
char thread_state(int pid, int tid);

// True if some thread of the process is running or waiting for a core.
bool any_thread_runnable(int pid);

}  // namespace cv::shm
