// The one owner of backup schedule and entry states: every change of a
// schedule's or an entry's state goes through these functions, which know
// the legal transitions and refuse (and log) any other. Callers hold the
// block lock (ScheduleLock), except where a comment says otherwise.
//
//   schedule: free -> created -> enable -> copy completed -> consolidation completed
//             created, enable, copy completed -> failed
//             copy completed -> enable (failover: the new target redoes it)
//             completed or failed -> free only by reset_schedule_slot
//   entry:    pending -> snapshotting -> sending -> sent
//             sending -> sending (a new attempt), sent -> sending (re-sent after failover)
//             pending, snapshotting, sending, sent -> failed
#pragma once

#include <cstdint>

#include "shm/block_layout.h"

namespace cv::shm {

bool schedule_transition_allowed(ScheduleState from, ScheduleState to);
bool entry_transition_allowed(EntryState from, EntryState to);

// Moves the schedule to `to` if that is a legal step from its state now;
// otherwise leaves it, logs why and returns false.
bool set_schedule_state(ScheduleSlot& s, ScheduleState to);
// The same for node `node`'s entry of the schedule.
bool set_entry_state(ScheduleSlot& s, uint32_t node, EntryState to);

// Marks a slot free whatever it held. Only for a slot being rewritten
// (create_schedule, which clears `id` first) or dropped as malformed.
void reset_schedule_slot(ScheduleSlot& s);
// Sets an entry's first state while its schedule is being created (id 0).
void init_entry_state(ScheduleEntry& e, EntryState st);

}  // namespace cv::shm
