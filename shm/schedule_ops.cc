// Schedule creation, failover and naming.
#include "shm/schedule_ops.h"

#include <cstring>
#include <ctime>

#include "shm/clock.h"
#include "shm/failpoints.h"
#include "shm/rate_limited_log.h"
#include "shm/schedule_state.h"

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

ScheduleLock::ScheduleLock(BlockLayout& b) : g_(b) {
  if (!g_.locked()) return;
  if (g_.owner_died()) {
    // create_schedule clears `id` before rewriting a slot and sets it last:
    // a slot without an id is free, whatever else the dead owner wrote.
    for (auto& s : b.schedules)
      if (s.id == 0) reset_schedule_slot(s);
  }
  failpoint(kFpScheduleLock);
}

std::string schedule_problem(const BlockLayout& b, const ScheduleSlot& s, bool check_owners) {
  auto out_of = [](const char* what, uint64_t v, uint64_t lo, uint64_t hi) {
    return std::string(what) + " " + std::to_string(v) + " is out of range " + std::to_string(lo) + ".." +
           std::to_string(hi);
  };
  if (s.state.load() > uint32_t(ScheduleState::kFailed)) return out_of("state", s.state.load(), 0, 5);
  if (s.nodes == 0 || s.nodes > uint32_t(kMaxServingNodes)) return out_of("node count", s.nodes, 1, kMaxServingNodes);
  const uint32_t targets = std::min<uint32_t>(b.config.targets, kMaxTargets);
  if (s.target >= targets) return out_of("target", s.target, 0, targets - 1);
  if (s.replicas == 0 || s.replicas > uint32_t(kMaxReplicas)) return out_of("replica count", s.replicas, 1, kMaxReplicas);
  if (s.partitions == 0 || s.partitions > uint32_t(kMaxPartitions))
    return out_of("partition count", s.partitions, 1, kMaxPartitions);
  if (s.requester_node >= uint32_t(kMaxServingNodes)) return out_of("requester", s.requester_node, 0, kMaxServingNodes - 1);
  for (uint32_t i = 0; i < std::min<uint32_t>(s.failovers, kMaxFailovers); ++i)
    if (s.failover_from[i] >= uint32_t(kMaxTargets)) return out_of("failover target", s.failover_from[i], 0, kMaxTargets - 1);
  for (uint32_t n = 0; n < s.nodes; ++n) {
    if (s.entries[n].state.load() > uint32_t(EntryState::kFailed))
      return "node" + std::to_string(n) + "'s " + out_of("entry state", s.entries[n].state.load(), 0, 5);
    if (s.entries[n].sent_to_target >= uint32_t(kMaxTargets))
      return "node" + std::to_string(n) + "'s " + out_of("target", s.entries[n].sent_to_target, 0, kMaxTargets - 1);
  }
  // A rank may be empty (kNoNode): the partition was under-replicated or
  // lost when the schedule was made.
  for (uint32_t p = 0; check_owners && p < s.partitions; ++p)
    for (uint32_t k = 0; k < s.replicas; ++k)
      if (s.owners[p][k] >= s.nodes && s.owners[p][k] != kNoNode)
        return "partition " + std::to_string(p) + " names node " + std::to_string(s.owners[p][k]) + " of " +
               std::to_string(s.nodes);
  auto terminated = [](const char* text, size_t cap) { return std::memchr(text, 0, cap) != nullptr; };
  if (!terminated(s.out_dir, kPathBytes) || !terminated(s.file, kPathBytes) || !terminated(s.error, kErrorBytes))
    return "a text field is not terminated";
  return {};
}

namespace {
RateLimitedLog g_schedule_log(1000);
}  // namespace

bool drop_malformed_schedules(Block& block) {
  BlockLayout& b = block.layout();
  // The owners (32 K entries a slot) are written once, at creation: they
  // are checked once per schedule id, the rest on every call.
  static thread_local uint64_t owners_checked[kMaxSchedules] = {};
  bool dropped = false;
  for (int i = 0; i < kMaxSchedules; ++i) {
    const uint64_t id = b.schedules[i].id;
    if (id == 0) continue;
    const bool owners = owners_checked[i] != id;
    if (schedule_problem(b, b.schedules[i], owners).empty()) {
      if (owners) owners_checked[i] = id;
      continue;
    }
    ScheduleLock g(b);
    if (!g.locked()) return dropped;
    drop_malformed_locked(b, i);
    dropped = true;
  }
  if (dropped) block.notify_change();
  return dropped;
}

bool drop_malformed_locked(BlockLayout& b, int slot) {
  ScheduleSlot& s = b.schedules[slot];
  if (s.id == 0) return false;
  const std::string why = schedule_problem(b, s);
  if (why.empty()) return false;  // rewritten meanwhile, and sound
  g_schedule_log.warn("backup schedule slot {} (id {}) is malformed and was dropped: {}", slot, s.id, why);
  reset_schedule_slot(s);
  return true;
}

static void copy_text(char* dst, size_t cap, const std::string& s) {
  std::memset(dst, 0, cap);
  std::memcpy(dst, s.data(), std::min(s.size(), cap - 1));
}

Status create_schedule(Block& block, const std::string& out_dir, bool allow_partial, int requester, uint64_t* id) {
  BlockLayout& b = block.layout();
  if (out_dir.size() >= kPathBytes - 64) return Status::invalid("--out '" + out_dir + "' is too long");
  TableCopy table;
  Status read;
  if (!refresh_table(b, &table, &read)) return Status::busy("cannot create a backup now: " + read.message());
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
    drop_malformed_locked(b, i);  // a garbage slot must not pass for a running backup
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
  reset_schedule_slot(s);
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
    init_entry_state(e, !member ? EntryState::kNone : up ? EntryState::kPending : EntryState::kFailed);
    e.sent_to_target = 0;
    e.send_round = 0;
    e.records = e.bytes = e.snapshot_ns = e.transfer_ns = 0;
  }
  std::memcpy(s.owners, table.owners.data(), sizeof(s.owners[0]) * table.owners.size());
  *id = b.next_schedule_id.fetch_add(1);
  s.id = *id;
  set_schedule_state(s, ScheduleState::kCreated);
  return Status::ok();
}

void fail_schedule_locked(ScheduleSlot& s, const std::string& why) {
  copy_text(s.error, kErrorBytes, why);
  s.completed_mono_ns = mono_ns();
  set_schedule_state(s, ScheduleState::kFailed);
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
    if (ScheduleState(s.state.load()) == ScheduleState::kCopyCompleted) set_schedule_state(s, ScheduleState::kEnable);
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
