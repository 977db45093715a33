// ScheduleDriver: enable, completion check, consolidation, cleanup.
#include "target/schedule_driver.h"

#include <spdlog/spdlog.h>


#include <cstring>
#include <filesystem>

#include "shm/background_thread.h"
#include "shm/backup_leftovers.h"
#include "shm/clock.h"
#include "shm/failpoints.h"
#include "shm/file_env.h"
#include "shm/mailbox.h"
#include "shm/schedule_ops.h"
#include "shm/schedule_state.h"
#include "target/consolidator.h"
#include "target/milestones.h"

namespace cv::target {

namespace {

// Runs this thread, and the TBB threads it starts, as background work for
// its lifetime.
class BackgroundPriority {
 public:
  BackgroundPriority() { shm::run_as_background(); }
  ~BackgroundPriority() { shm::run_as_foreground(); }
};
}  // namespace

ScheduleDriver::ScheduleDriver(shm::Block& block, int target_index)
    : block_(block), b_(block.layout()), t_(target_index) {
  // Temp files of a consolidation cut short by an earlier crash of this target.
  std::error_code ec;
  std::filesystem::remove_all(shm::target_dir(b_, t_) + "/incoming", ec);
  std::filesystem::create_directories(shm::target_dir(b_, t_), ec);
}

void ScheduleDriver::beat() {
  b_.nodes[shm::kFirstTargetMailbox + t_].heartbeat_ns.store(mono_ns(), std::memory_order_relaxed);
}

void ScheduleDriver::poll() {
  // Slots are read from the block, which any process can write: a
  // malformed one is dropped before anything is indexed by its values.
  shm::drop_malformed_schedules(block_);
  for (int i = 0; i < shm::kMaxSchedules; ++i) {
    shm::ScheduleSlot& s = b_.schedules[i];
    if (s.id == 0 || s.target != uint32_t(t_)) continue;
    switch (shm::ScheduleState(s.state.load())) {
      case shm::ScheduleState::kCreated: enable(s); break;
      case shm::ScheduleState::kEnable:
        check_copies(s);
        if (shm::ScheduleState(s.state.load()) == shm::ScheduleState::kEnable) verify_arrivals(s);
        break;
      case shm::ScheduleState::kCopyCompleted: run_consolidation(s); break;
      case shm::ScheduleState::kConsolidationCompleted:
      case shm::ScheduleState::kFailed: cleanup(s); break;
      case shm::ScheduleState::kFree: break;
    }
  }
}

void ScheduleDriver::enable(shm::ScheduleSlot& s) {
  {
    shm::ScheduleLock g(b_);
    if (!g.locked() || shm::ScheduleState(s.state.load()) != shm::ScheduleState::kCreated) return;
    if (failpoint(kFpScheduleEnable)) {
      shm::fail_schedule_locked(s, "target" + std::to_string(t_) + " could not enable the schedule (failpoint)");
    } else {
      shm::restart_progress_clocks_locked(s);
      shm::set_schedule_state(s, shm::ScheduleState::kEnable);
    }
  }
  spdlog::info("target {}: backup {} enabled", t_, s.id);
  block_.notify_change();
  // Serving nodes sleep on their mailboxes, not on the block: wake them so
  // the hot backups start now rather than at their next timer.
  for (uint32_t n = 0; n < b_.config.serving_nodes; ++n)
    shm::Mailbox(&b_.mailboxes[n], block_.ring(int(n))).wake();
}

void ScheduleDriver::check_copies(shm::ScheduleSlot& s) {
  shm::ScheduleLock g(b_);
  if (!g.locked() || shm::ScheduleState(s.state.load()) != shm::ScheduleState::kEnable) return;
  bool all_done = true;
  const uint64_t now = mono_ns();
  for (uint32_t n = 0; n < s.nodes; ++n) {
    shm::ScheduleEntry& e = s.entries[n];
    auto es = shm::EntryState(e.state.load());
    const bool here = es == shm::EntryState::kSent && e.send_round == s.round;
    const bool dead = shm::NodeState(b_.nodes[n].state.load()) == shm::NodeState::kDown;
    const uint64_t last = e.progress_ns.load(std::memory_order_relaxed);
    const bool stuck = last != 0 && now > last && now - last > shm::kEntryStallMs * 1'000'000ull;
    if (!here && es != shm::EntryState::kFailed && (dead || stuck)) {
      shm::set_entry_state(s, n, shm::EntryState::kFailed);
      es = shm::EntryState::kFailed;
      if (dead)
        spdlog::warn("target {}: backup {}: node{} died before its copy arrived", t_, s.id, n);
      else
        spdlog::warn("target {}: backup {}: node{} made no progress on its copy for {} ms; leaving it out", t_,
                     s.id, n, (now - last) / 1'000'000);
    }
    if (!here && es != shm::EntryState::kFailed) all_done = false;
  }
  if (!all_done) return;
  // Every partition needs a replica whose copy arrived; a partial backup
  // lists the ones without any instead.
  const bool partial = s.flags & shm::kScheduleAllowPartial;
  std::memset(s.missing, 0, sizeof s.missing);
  for (uint32_t p = 0; p < s.partitions && p < uint32_t(shm::kMaxPartitions); ++p) {
    bool covered = false;
    std::string holders;
    for (uint32_t k = 0; k < s.replicas && k < uint32_t(shm::kMaxReplicas); ++k) {
      const uint16_t n = s.owners[p][k];
      if (n >= s.nodes || n >= shm::kMaxServingNodes) continue;  // an empty rank
      covered |= shm::EntryState(s.entries[n].state.load()) == shm::EntryState::kSent;
      holders += (holders.empty() ? "node" : ", node") + std::to_string(n);
    }
    if (!covered && partial) {
      s.missing[p / 8] |= uint8_t(1u << (p % 8));
      spdlog::warn("target {}: backup {}: partition {} has no copy; the partial backup leaves it out", t_, s.id, p);
      continue;
    }
    if (!covered && holders.empty()) {
      shm::fail_schedule_locked(s, "partition " + std::to_string(p) +
                                       " is lost (every replica is gone); back up the rest with --allow-partial");
      spdlog::error("target {}: backup {} failed: {}", t_, s.id, s.error);
      block_.notify_change();
      return;
    }
    if (!covered) {
      shm::fail_schedule_locked(s, "partition " + std::to_string(p) + " has no live replica that sent it (" +
                                       holders + " failed)");
      spdlog::error("target {}: backup {} failed: {}", t_, s.id, s.error);
      block_.notify_change();
      return;
    }
  }
  s.copy_completed_mono_ns = mono_ns();
  shm::set_schedule_state(s, shm::ScheduleState::kCopyCompleted);
  spdlog::info("target {}: backup {}: copy completed", t_, s.id);
  block_.notify_change();
}

void ScheduleDriver::verify_arrivals(shm::ScheduleSlot& s) {
  struct Arrival {
    int node;
    uint64_t records;
  };
  std::vector<Arrival> todo;
  uint64_t sid;
  uint32_t round;
  {
    shm::ScheduleLock g(b_);
    if (!g.locked() || shm::ScheduleState(s.state.load()) != shm::ScheduleState::kEnable) return;
    sid = s.id;
    round = s.round;
    for (uint32_t n = 0; n < s.nodes; ++n) {
      const shm::ScheduleEntry& e = s.entries[n];
      if (shm::EntryState(e.state.load()) != shm::EntryState::kSent || e.send_round != round ||
          e.sent_to_target != uint32_t(t_))
        continue;
      auto it = arrived_.find(int(n));
      if (it != arrived_.end() && it->second.schedule_id == sid && it->second.round == round) continue;
      todo.push_back({int(n), e.records});
    }
  }
  if (todo.empty()) return;
  BackgroundPriority background;
  for (const auto& a : todo) {
    ArrivedCopy c{sid, round, a.records, nullptr, Status::ok()};
    c.status = open_copy(shm::incoming_copy_path(b_, t_, sid, a.node), a.records, &c.reader);
    arrived_[a.node] = std::move(c);
    beat();
  }
}

void ScheduleDriver::run_consolidation(shm::ScheduleSlot& s) {
  const uint64_t sid = s.id;
  const uint32_t round = s.round;
  std::vector<int> nodes;
  std::vector<uint64_t> expected;
  for (uint32_t n = 0; n < s.nodes; ++n)
    if (shm::EntryState(s.entries[n].state.load()) == shm::EntryState::kSent) {
      nodes.push_back(int(n));
      expected.push_back(s.entries[n].records);
    }
  // Its fsync goes on beside the merge; it is joined before the next one.
  std::jthread sent_milestone = write_milestone_async(take_milestone(b_, s, "sent"));
  spdlog::info("target {}: backup {}: consolidating {} copies", t_, sid, nodes.size());
  const uint64_t t0 = mono_ns();
  // Consolidation yields the cores to serving nodes' request loops, which
  // carry live traffic while a backup runs.
  BackgroundPriority background;
  std::vector<std::unique_ptr<fmt::BackupReader>> copies;
  Status st = failpoint(kFpTargetReceive) ? Status::corrupt("copy check failed (failpoint)", 0) : Status::ok();
  if (st) st = take_verified_copies(sid, round, nodes, expected, &copies);
  beat();
  const uint64_t verified = mono_ns();
  ConsolidationResult res;
  const std::string file =
      std::string(s.out_dir) + "/" + shm::backup_file_name(b_.config.name, s.created_ns, sid, round);
  if (st && failpoint(kFpConsolidateStart)) st = Status::io_error("consolidation failed (failpoint)");
  if (st) {
    std::error_code ec;
    std::filesystem::create_directories(s.out_dir, ec);
    // Temp files of consolidations whose target died are garbage now.
    if (size_t n = shm::remove_dead_backup_temps(s.out_dir))
      spdlog::info("target {}: removed {} temp files of interrupted backups from {}", t_, n, s.out_dir);
    fmt::FileHeaderInfo info;
    info.backup_id = sid;
    info.source_nodes = s.nodes;
    info.source_replicas = s.replicas;
    info.source_partitions = s.partitions;
    info.created_ns = s.created_ns;
    // Right before the file gets its name: a schedule that failed meanwhile
    // (its client gave up, another target took over) gets no file.
    auto still_wanted = [&]() -> Status {
      if (failpoint(kFpConsolidateRename)) return Status::io_error("abandoned before the rename (failpoint)");
      shm::ScheduleLock g(b_);
      if (!g.locked()) return Status::timeout("timed out waiting for the block lock before publishing");
      if (s.id != sid || s.round != round ||
          shm::ScheduleState(s.state.load()) != shm::ScheduleState::kCopyCompleted)
        return Status::io_error("backup " + std::to_string(sid) + " ended while consolidating; file not published");
      return Status::ok();
    };
    for (uint32_t p = 0; p < s.partitions && p < uint32_t(shm::kMaxPartitions); ++p)
      if (s.missing[p / 8] & (1u << (p % 8))) info.missing_partitions.push_back(p);
    st = consolidate(copies, info, file, still_wanted, [this] { beat(); }, &res);
    res.verify_ns = verified - t0;
  }
  if (st && failpoint(kFpConsolidateEnd)) st = Status::io_error("consolidation failed (failpoint)");
  shm::ScheduleLock g(b_);
  if (!g.locked() || s.id != sid || s.round != round ||
      shm::ScheduleState(s.state.load()) != shm::ScheduleState::kCopyCompleted) {
    spdlog::warn("target {}: backup {} changed while consolidating; result dropped", t_, sid);
    if (st) shm::FileEnv::real().unlink(file);
    return;
  }
  if (!st) {
    shm::fail_schedule_locked(s, "consolidation on target" + std::to_string(t_) + " failed: " + st.message());
    spdlog::error("target {}: backup {}: {}", t_, sid, s.error);
    block_.notify_change();
    return;
  }
  s.consolidate_ns = mono_ns() - t0;
  s.records = res.records;
  s.bytes = res.bytes;
  std::memset(s.file, 0, sizeof s.file);
  std::memcpy(s.file, file.data(), std::min(file.size(), sizeof s.file - 1));
  s.completed_mono_ns = mono_ns();
  shm::set_schedule_state(s, shm::ScheduleState::kConsolidationCompleted);
  spdlog::info(
      "target {}: backup {}: consolidation completed: {} records, {} bytes in {:.1f} ms ({:.2f} GB/s of input; "
      "verify {:.1f}, merge and write {:.1f}, sync {:.1f})",
      t_, sid, res.records, res.bytes, double(s.consolidate_ns) / 1e6, double(res.input_bytes) / double(s.consolidate_ns),
      double(res.verify_ns) / 1e6, double(res.merge_ns) / 1e6, double(res.write_ns) / 1e6);
  const std::string out_dir = s.out_dir;
  const uint64_t created_ns = s.created_ns;
  // Milestone files are written in order, `sent` first (long done by now),
  // and `consolidation completed` before the change is announced.
  sent_milestone.join();
  write_milestone(take_milestone(b_, s, "consolidation completed"));
  block_.notify_change();
  // A target of an earlier round that died between publishing its file and
  // recording it left a file the schedule does not name: remove it.
  for (uint32_t r = 0; r < round; ++r)
    shm::FileEnv::real().unlink(out_dir + "/" + shm::backup_file_name(b_.config.name, created_ns, sid, r));
}

Status ScheduleDriver::take_verified_copies(uint64_t sid, uint32_t round, const std::vector<int>& nodes,
                                            const std::vector<uint64_t>& expected,
                                            std::vector<std::unique_ptr<fmt::BackupReader>>* copies) {
  // Copies verified on arrival in this round are taken as they are; the
  // rest (usually the last to arrive) are verified now, in parallel.
  copies->clear();
  copies->resize(nodes.size());
  std::vector<size_t> missing;
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto it = arrived_.find(nodes[i]);
    if (it != arrived_.end() && it->second.schedule_id == sid && it->second.round == round &&
        it->second.records == expected[i]) {
      if (!it->second.status) return it->second.status;
      (*copies)[i] = std::move(it->second.reader);
    } else {
      missing.push_back(i);
    }
  }
  arrived_.clear();
  std::vector<std::string> mp;
  std::vector<uint64_t> me;
  for (size_t i : missing) {
    mp.push_back(shm::incoming_copy_path(b_, t_, sid, nodes[i]));
    me.push_back(expected[i]);
  }
  std::vector<std::unique_ptr<fmt::BackupReader>> opened;
  if (Status st = open_copies(mp, me, &opened); !st) return st;
  for (size_t k = 0; k < missing.size(); ++k) (*copies)[missing[k]] = std::move(opened[k]);
  return Status::ok();
}

void ScheduleDriver::cleanup(shm::ScheduleSlot& s) {
  std::erase_if(arrived_, [&](const auto& kv) { return kv.second.schedule_id == s.id; });
  if (s.id <= cleaned_through_) return;
  cleaned_through_ = s.id;
  std::error_code ec;
  uint64_t freed = 0;
  for (const auto& f : std::filesystem::directory_iterator(shm::incoming_dir(b_, t_, s.id), ec)) {
    freed += f.file_size(ec);
    shm::FileEnv::real().unlink(f.path().string());  // one at a time: a large file takes a while
    beat();
  }
  std::filesystem::remove_all(shm::incoming_dir(b_, t_, s.id), ec);
  auto& used = b_.nodes[shm::kFirstTargetMailbox + t_].used_bytes;
  used.fetch_sub(std::min(freed, used.load()));
}

}  // namespace cv::target
