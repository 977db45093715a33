// Schedule creation, failover and naming.
#include "shm/schedule_ops.h"

#include <cstring>
#include <ctime>

#include "shm/clock.h"
#include "shm/failpoints.h"

namespace cv::shm {

std::string node_dir(const BlockLayout& b, int node) {
  return std::string(b.config.data_dir) + "/node" + std::to_string(node);
}
std::string target_dir(const BlockLayout& b, int target) {
  return std::string(b.config.data_dir) + "/target" + std::to_string(target);
}
std::string local_copy_path(const BlockLayout& b, int node, uint64_t id) {
  return node_dir(b, node) + "/backup-" + std::to_string(id) + ".copy";
}
std::string incoming_dir(const BlockLayout& b, int target, uint64_t id) {
  return target_dir(b, target) + "/incoming/" + std::to_string(id);
}
std::string incoming_copy_path(const BlockLayout& b, int target, uint64_t id, int node) {
  return incoming_dir(b, target, id) + "/node" + std::to_string(node) + ".copy";
}
std::string default_backup_dir(const BlockLayout& b) { return std::string(b.config.data_dir) + "/backups"; }
std::string backup_file_name(const std::string& cluster, uint64_t created_ns, uint64_t id, uint32_t round) {
  const time_t secs = time_t(created_ns / 1'000'000'000ull);
  tm utc{};
  gmtime_r(&secs, &utc);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  return cluster + "-" + stamp + "-" + std::to_string(id) + (round > 0 ? "-r" + std::to_string(round) : "") + ".cvb";
}

const char* schedule_state_name(ScheduleState s) {
  switch (s) {
    case ScheduleState::kFree: return "free";
    case ScheduleState::kCreated: return "created";
    case ScheduleState::kEnable: return "enable";
    case ScheduleState::kCopyCompleted: return "copy completed";
    case ScheduleState::kConsolidationCompleted: return "consolidation completed";
    case ScheduleState::kFailed: return "failed";
  }
  return "unknown";
}

const char* entry_state_name(EntryState s) {
  switch (s) {
    case EntryState::kNone: return "none";
    case EntryState::kPending: return "pending";
    case EntryState::kSnapshotting: return "snapshotting";
    case EntryState::kSending: return "sending";
    case EntryState::kSent: return "sent";
    case EntryState::kFailed: return "failed";
  }
  return "unknown";
}

bool target_up(const BlockLayout& b, int target) {
  return NodeState(b.nodes[kFirstTargetMailbox + target].state.load()) == NodeState::kUp;
}

int find_schedule(const BlockLayout& b, uint64_t id) {
  for (int i = 0; i < kMaxSchedules; ++i)
    if (b.schedules[i].id == id && id != 0) return i;
  return -1;
}

ScheduleLock::ScheduleLock(BlockLayout& b) : g_(b.lock, kLockTimeoutMs) {
  if (!g_.locked()) return;
  if (g_.owner_died()) {
    // create_schedule clears `id` before rewriting a slot and sets it last:
    // a slot without an id is free, whatever else the dead owner wrote.
    for (auto& s : b.schedules)
      if (s.id == 0) s.state.store(uint32_t(ScheduleState::kFree));
  }
  failpoint(kFpScheduleLock);
}

static void copy_text(char* dst, size_t cap, const std::string& s) {
  std::memset(dst, 0, cap);
  std::memcpy(dst, s.data(), std::min(s.size(), cap - 1));
}

Status create_schedule(Block& block, const std::string& out_dir, bool allow_partial, int requester, uint64_t* id) {
  BlockLayout& b = block.layout();
  if (out_dir.size() >= kPathBytes - 64) return Status::invalid("--out '" + out_dir + "' is too long");
  TableCopy table;
  refresh_table(b, &table);
  std::string lost;
  size_t lost_count = 0;
  for (uint32_t p = 0; p < table.partitions; ++p) {
    if (!table.lost[p] && table.holders(p) > 0) continue;
    if (++lost_count <= 20) lost += (lost.empty() ? "" : ", ") + std::to_string(p);
  }
  if (lost_count > 20) lost += ", ...";
  if (lost_count > 0 && !allow_partial)
    return Status::io_error(std::to_string(lost_count) + " partitions are lost (every replica is gone): " + lost +
                            "; a backup would not be complete (back up the rest with --allow-partial)");
  ScheduleLock g(b);
  if (!g.locked()) return Status::timeout("timed out waiting for the block lock to create a schedule");
  int free_slot = -1;
  uint64_t oldest = UINT64_MAX;
  for (int i = 0; i < kMaxSchedules; ++i) {
    ScheduleSlot& s = b.schedules[i];
    auto st = ScheduleState(s.state.load());
    if (s.id != 0 && schedule_active(st))
      return Status::busy("backup " + std::to_string(s.id) + " is already running (" + schedule_state_name(st) +
                          "); follow it with: cachevault backup --wait " + std::to_string(s.id));
    if (s.id < oldest) {  // a free slot has id 0, so it wins
      oldest = s.id;
      free_slot = i;
    }
  }
  int target = -1;
  for (uint32_t t = 0; t < b.config.targets; ++t)
    if (target_up(b, int(t))) {
      target = int(t);
      break;
    }
  if (target < 0) return Status::peer_down("no target node is up to receive the backup");
  ScheduleSlot& s = b.schedules[free_slot];
  // Mark the slot unused while it is rewritten, so a reader never sees a mix.
  s.id = 0;
  s.state.store(uint32_t(ScheduleState::kFree));
  s.target = uint32_t(target);
  s.round = 0;
  s.failovers = 0;
  s.full_targets_mask = 0;
  s.requester_node = uint32_t(requester);
  s.nodes = b.config.serving_nodes;
  s.replicas = table.replicas;
  s.partitions = table.partitions;
  s.flags = allow_partial ? kScheduleAllowPartial : 0;
  std::memset(s.missing, 0, sizeof s.missing);
  s.table_epoch = table.epoch;
  s.created_ns = wall_ns();
  s.started_mono_ns = mono_ns();
  s.copy_completed_mono_ns = s.completed_mono_ns = s.consolidate_ns = 0;
  s.records = s.bytes = 0;
  copy_text(s.out_dir, kPathBytes, out_dir.empty() ? default_backup_dir(b) : out_dir);
  copy_text(s.file, kPathBytes, "");
  copy_text(s.error, kErrorBytes, "");
  for (uint32_t n = 0; n < kMaxServingNodes; ++n) {
    ScheduleEntry& e = s.entries[n];
    const bool member = n < b.config.serving_nodes;
    const bool up = member && NodeState(b.nodes[n].state.load()) == NodeState::kUp;
    e.state.store(uint32_t(!member ? EntryState::kNone : up ? EntryState::kPending : EntryState::kFailed));
    e.sent_to_target = 0;
    e.send_round = 0;
    e.records = e.bytes = e.snapshot_ns = e.transfer_ns = 0;
  }
  std::memcpy(s.owners, table.owners.data(), sizeof(s.owners[0]) * table.owners.size());
  *id = b.next_schedule_id.fetch_add(1);
  s.id = *id;
  s.state.store(uint32_t(ScheduleState::kCreated));
  return Status::ok();
}

void fail_schedule_locked(ScheduleSlot& s, const std::string& why) {
  copy_text(s.error, kErrorBytes, why);
  s.completed_mono_ns = mono_ns();
  s.state.store(uint32_t(ScheduleState::kFailed));
}

void restart_progress_clocks_locked(ScheduleSlot& s) {
  const uint64_t now = mono_ns();
  for (uint32_t n = 0; n < s.nodes; ++n) s.entries[n].progress_ns.store(now, std::memory_order_relaxed);
}

void fail_over_locked(BlockLayout& b, ScheduleSlot& s, Code reason, const std::string& why) {
  const uint32_t from = s.target;
  if (reason == Code::kFull) s.full_targets_mask |= 1u << from;
  if (s.failovers < kMaxFailovers) {
    s.failover_from[s.failovers] = from;
    s.failover_reason[s.failovers] = uint32_t(reason);
  }
  ++s.failovers;
  for (uint32_t i = 1; i <= b.config.targets; ++i) {
    const uint32_t t = (from + i) % b.config.targets;
    if (t == from || (s.full_targets_mask >> t) & 1u || !target_up(b, int(t))) continue;
    s.target = t;
    ++s.round;
    restart_progress_clocks_locked(s);
    // A consolidation that had started elsewhere is redone by the new target.
    if (ScheduleState(s.state.load()) == ScheduleState::kCopyCompleted) s.state.store(uint32_t(ScheduleState::kEnable));
    return;
  }
  std::string all_full = "every target is full or down";
  if (s.full_targets_mask != 0) {
    all_full += " (full:";
    for (uint32_t t = 0; t < b.config.targets; ++t)
      if ((s.full_targets_mask >> t) & 1u) all_full += " target" + std::to_string(t);
    all_full += ")";
  }
  fail_schedule_locked(s, all_full + "; last: " + why);
}

}  // namespace cv::shm
