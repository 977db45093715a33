// Operations on backup schedules in the block, shared by the serving node
// that creates a schedule, the nodes and targets that advance it, and the
// client that follows it; plus the paths every party agrees on.
#pragma once

#include <cstdint>
#include <string>

#include "shm/block.h"
#include "shm/table_access.h"

namespace cv::shm {

// Directories and files of the protocol under the cluster's data dir.
std::string node_dir(const BlockLayout& b, int node);
std::string target_dir(const BlockLayout& b, int target);
std::string local_copy_path(const BlockLayout& b, int node, uint64_t schedule_id);
std::string incoming_dir(const BlockLayout& b, int target, uint64_t schedule_id);
std::string incoming_copy_path(const BlockLayout& b, int target, uint64_t schedule_id, int node);
std::string default_backup_dir(const BlockLayout& b);
// "<cluster>-<YYYYmmddTHHMMSSZ>-<id>.cvb", the time being the schedule's
// creation (UTC); a schedule that failed over to another target (round > 0)
// ends "-<id>-r<round>.cvb", so that a file a dead target published just
// before it died does not stand in the new target's way. Ids do not restart
// with a new incarnation of a cluster (shm/backup_leftovers.h), so a name is
// never given out twice; publishing never replaces a file anyway
// (shm/file_env.h).
std::string backup_file_name(const std::string& cluster, uint64_t created_ns, uint64_t schedule_id,
                             uint32_t round);

const char* schedule_state_name(ScheduleState s);
const char* entry_state_name(EntryState s);
inline bool schedule_active(ScheduleState s) {
  return s == ScheduleState::kCreated || s == ScheduleState::kEnable || s == ScheduleState::kCopyCompleted;
}
bool target_up(const BlockLayout& b, int target);

// The block lock taken for a schedule update. If the previous holder died
// inside, half-written schedule slots are repaired first. Every schedule
// critical section passes the `schedule.lock` failpoint while holding it.
class ScheduleLock {
 public:
  explicit ScheduleLock(BlockLayout& b);
  bool locked() const { return g_.locked(); }

 private:
  BlockLock g_;
};

// Why a schedule slot read from the block cannot be acted on (a state,
// count, target or node index out of range, an owner that is not one of
// its nodes, an unterminated text), or "" if it is sound. Every reader of
// a schedule checks it before indexing anything by the slot's values.
// check_owners = false leaves out the partition owners (the costly part).
std::string schedule_problem(const BlockLayout& b, const ScheduleSlot& s, bool check_owners = true);
// Frees every slot holding a malformed schedule (logged, rate-limited),
// taking the block lock for each one found. Returns true if it dropped any.
bool drop_malformed_schedules(Block& block);
// REQUIRES: the block lock is held. Frees slot `slot` if it is malformed.
bool drop_malformed_locked(BlockLayout& b, int slot);

// Index of the slot holding schedule `id`, or -1.
int find_schedule(const BlockLayout& b, uint64_t id);

// Creates a schedule from the table (state kCreated) and returns its id.
// Refuses (kBusy, naming the running backup) while another one is active,
// and (naming them) while partitions are lost, unless allow_partial: the
// backup then leaves them out and its file lists them.
// Takes the block lock itself.
Status create_schedule(Block& block, const std::string& out_dir, bool allow_partial, int requester, uint64_t* id);

// REQUIRES: the block lock is held. Moves the schedule to another live
// target that is not known to be full, bumping its round so that every node
// re-sends its copy; with none left the schedule fails, saying why.
void fail_over_locked(BlockLayout& b, ScheduleSlot& s, Code reason, const std::string& why);
// REQUIRES: the block lock is held. Ends the schedule as failed with a reason.
void fail_schedule_locked(ScheduleSlot& s, const std::string& why);
// REQUIRES: the block lock is held. Every node's copy is wanted from now
// on (the schedule was enabled, or failed over): their progress clocks
// start again.
void restart_progress_clocks_locked(ScheduleSlot& s);

}  // namespace cv::shm
