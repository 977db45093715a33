// Legal schedule and entry transitions, and the only stores of their states.
#include "shm/schedule_state.h"

#include <spdlog/spdlog.h>

#include "shm/schedule_ops.h"

namespace cv::shm {

bool schedule_transition_allowed(ScheduleState from, ScheduleState to) {
  using S = ScheduleState;
  switch (from) {
    case S::kFree: return to == S::kCreated;
    case S::kCreated: return to == S::kEnable || to == S::kFailed;
    case S::kEnable: return to == S::kCopyCompleted || to == S::kFailed;
    case S::kCopyCompleted: return to == S::kConsolidationCompleted || to == S::kFailed || to == S::kEnable;
    case S::kConsolidationCompleted:
    case S::kFailed: return false;
  }
  return false;
}

bool entry_transition_allowed(EntryState from, EntryState to) {
  using E = EntryState;
  switch (from) {
    case E::kPending: return to == E::kSnapshotting || to == E::kFailed;
    case E::kSnapshotting: return to == E::kSending || to == E::kFailed;
    case E::kSending: return to == E::kSending || to == E::kSent || to == E::kFailed;
    case E::kSent: return to == E::kSending || to == E::kFailed;
    case E::kNone:
    case E::kFailed: return false;
  }
  return false;
}

bool set_schedule_state(ScheduleSlot& s, ScheduleState to) {
  uint32_t cur = s.state.load();
  for (;;) {
    if (!schedule_transition_allowed(ScheduleState(cur), to)) {
      spdlog::error("backup {}: refused the state change {} -> {}", s.id, schedule_state_name(ScheduleState(cur)),
                    schedule_state_name(to));
      return false;
    }
    if (s.state.compare_exchange_weak(cur, uint32_t(to))) return true;
  }
}

bool set_entry_state(ScheduleSlot& s, uint32_t node, EntryState to) {
  if (node >= uint32_t(kMaxServingNodes)) {
    spdlog::error("backup {}: refused a state change of node {}, which cannot exist", s.id, node);
    return false;
  }
  std::atomic<uint32_t>& state = s.entries[node].state;
  uint32_t cur = state.load();
  for (;;) {
    if (!entry_transition_allowed(EntryState(cur), to)) {
      spdlog::error("backup {}: refused the state change of node{}'s copy {} -> {}", s.id, node,
                    entry_state_name(EntryState(cur)), entry_state_name(to));
      return false;
    }
    if (state.compare_exchange_weak(cur, uint32_t(to))) return true;
  }
}

void reset_schedule_slot(ScheduleSlot& s) {
  s.id = 0;
  s.state.store(uint32_t(ScheduleState::kFree));
}

void init_entry_state(ScheduleEntry& e, EntryState st) { e.state.store(uint32_t(st)); }

}  // namespace cv::shm
