// Milestones of a backup that must outlive the block (`sent`, `consolidation
// completed`): one small JSON file per schedule under <data dir>/schedules,
// rewritten atomically (temp, fsync, rename, fsync dir) at each milestone.
#pragma once

#include <cstdint>
#include <string>
#include <thread>

#include "shm/block_layout.h"
#include "shm/file_env.h"

namespace cv::target {

struct Milestone {
  std::string dir;
  uint64_t schedule_id = 0;
  std::string name;
  std::string text;
};

// The milestone's record, taken from the schedule as it is now. Cheap: call
// it while holding the schedule lock, then write it after letting go.
Milestone take_milestone(const shm::BlockLayout& b, const shm::ScheduleSlot& s, const std::string& name);

// Writes the record atomically (temp, fsync, rename, fsync dir).
// A failure is logged, not returned: the block still holds the state.
void write_milestone(const Milestone& m, shm::FileEnv& env = shm::FileEnv::real());

// The same on a thread of its own, so that work can go on meanwhile;
// joining the thread (or destroying it) waits for the file.
std::jthread write_milestone_async(Milestone m);

}  // namespace cv::target
