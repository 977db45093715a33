// ScheduleDriver: a target's part of the backup protocol, driven by polling
// the block's schedules: enable `created` schedules, watch the copies of
// those assigned to this target, decide `copy completed` (or failure), then
// consolidate.
#pragma once

#include <cstdint>

#include "shm/block.h"

namespace cv::target {

class ScheduleDriver {
 public:
  ScheduleDriver(shm::Block& block, int target_index);
  void poll();

 private:
  void enable(shm::ScheduleSlot& s);
  // Marks copies of dead nodes failed; when every copy is in or failed,
  // checks that each partition is covered and sets `copy completed`.
  void check_copies(shm::ScheduleSlot& s);
  void run_consolidation(shm::ScheduleSlot& s);
  // Removes the incoming copies of a finished schedule; frees their quota.
  void cleanup(shm::ScheduleSlot& s);

  shm::Block& block_;
  shm::BlockLayout& b_;
  const int t_;
  uint64_t cleaned_through_ = 0;
};

}  // namespace cv::target
