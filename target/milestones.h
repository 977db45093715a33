// Milestones of a backup that must outlive the block (`sent`, `consolidation
// completed`): one small JSON file per schedule under <data dir>/schedules,
// rewritten atomically (temp, fsync, rename, fsync dir) at each milestone.
#pragma once

#include <string>

#include "shm/block_layout.h"

namespace cv::target {

void write_milestone(const shm::BlockLayout& b, const shm::ScheduleSlot& s, const std::string& milestone);

}  // namespace cv::target
