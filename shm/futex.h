// Thin wrappers over the futex system call on words in shared memory, the
// only sleeping primitive cachevault uses across processes (always with a
// timeout, never a condition variable).
#pragma once

#include <atomic>
#include <cstdint>

namespace cv::shm {

// Sleeps while *word == expected, at most timeout_ns. Returns early on a wake,
// a signal or a changed word; callers re-check their condition.
void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, uint64_t timeout_ns);
// Wakes up to `count` sleepers on the word.
void futex_wake(std::atomic<uint32_t>* word, int count);

}  // namespace cv::shm
