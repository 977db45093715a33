// ScheduleDriver: a target's part of the backup protocol, driven by polling
// the block's schedules: enable `created` schedules, watch the copies of
// those assigned to this target, decide `copy completed` (or failure), then
// consolidate.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shm/backup_reader.h"
#include "shm/block.h"
#include "shm/status.h"

namespace cv::target {

class ScheduleDriver {
 public:
  ScheduleDriver(shm::Block& block, int target_index);
  void poll();
  // Stamps the target's heartbeat: called by the loop and as long steps
  // make progress, so the launcher fences only a target that is stuck.
  void beat();

 private:
  void enable(shm::ScheduleSlot& s);
  // Marks copies of dead nodes failed; when every copy is in or failed,
  // checks that each partition is covered and sets `copy completed`.
  void check_copies(shm::ScheduleSlot& s);
  // Verifies the copies that have arrived while others are still on their
  // way, so that consolidation starts from checked copies.
  void verify_arrivals(shm::ScheduleSlot& s);
  void run_consolidation(shm::ScheduleSlot& s);
  // The schedule's copies, verified: those checked on arrival, the others
  // now.
  Status take_verified_copies(uint64_t sid, uint32_t round, const std::vector<int>& nodes,
                              const std::vector<uint64_t>& expected,
                              std::vector<std::unique_ptr<fmt::BackupReader>>* copies);
  // Removes the incoming copies of a finished schedule; frees their quota.
  void cleanup(shm::ScheduleSlot& s);

  shm::Block& block_;
  shm::BlockLayout& b_;
  const int t_;
  uint64_t cleaned_through_ = 0;
  // A copy verified on arrival, by node.
  struct ArrivedCopy {
    uint64_t schedule_id = 0;
    uint32_t round = 0;
    uint64_t records = 0;
    std::unique_ptr<fmt::BackupReader> reader;
    Status status;
  };
  std::map<int, ArrivedCopy> arrived_;
};

}  // namespace cv::target
