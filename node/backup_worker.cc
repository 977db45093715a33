// BackupWorker: schedule creation, hot backup and transfer to the target.
#include "node/backup_worker.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "shm/background_thread.h"
#include "shm/backup_leftovers.h"
#include "shm/backup_writer.h"
#include "shm/clock.h"
#include "shm/failpoints.h"
#include "shm/file_env.h"
#include "shm/expiry.h"
#include "shm/proc_state.h"
#include "shm/schedule_ops.h"
#include "shm/schedule_state.h"

namespace cv::node {

namespace {

// Longest run of partition copying between two rounds of requests.
constexpr uint64_t kCaptureSliceNs = 1'000'000;

// Copies the file at `src` into a new file at `dst` through a read-only
// shared mapping of `src`, one window at a time, written out with pwrite(2).
// Writing through a mapping of the new file instead makes the kernel zero
// every fresh page before the copy lands on it: twice the time here. Each
// window is unmapped once sent, so the copy adds at most one window to the
// node's memory. The space is reserved first, so a full disk is an error
// before anything is written. Not fsynced: copies can be re-sent until the
// schedule completes, and only the consolidated file must be durable.
constexpr size_t kCopyWindowBytes = 8u << 20;
// Bytes per write(2): the kernel does not preempt a system call, and one
// that fills megabytes of fresh page cache holds a core for several ms,
// which a request loop waiting for that core feels as a write stall.
constexpr size_t kCopyChunkBytes = 256u << 10;

Status copy_through_mapping(const std::string& src, const std::string& dst) {
  const int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return errno_status("open", src, errno);
  struct stat st{};
  if (fstat(in, &st) != 0) {
    int e = errno;
    ::close(in);
    return errno_status("stat", src, e);
  }
  const size_t size = size_t(st.st_size);
  shm::FileEnv& env = shm::FileEnv::real();
  const std::string tmp = dst + ".tmp";
  int fd = -1;
  env.unlink(tmp);  // left by an attempt cut short
  if (Status s = env.open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600, &fd); !s) {
    ::close(in);
    return s;
  }
  auto fail = [&](Status s) {
    ::close(in);
    env.close(fd);
    env.unlink(tmp);
    return s;
  };
  if (Status s = env.fallocate(fd, tmp, size); !s) return fail(s);
  for (size_t off = 0; off < size; off += kCopyWindowBytes) {
    const size_t len = std::min(kCopyWindowBytes, size - off);
    void* map = mmap(nullptr, len, PROT_READ, MAP_SHARED, in, off_t(off));
    if (map == MAP_FAILED) return fail(errno_status("mmap", src, errno));
    madvise(map, len, MADV_SEQUENTIAL);
    size_t done = 0;
    while (done < len) {
      sched_yield();  // between system calls: see shm/background_thread.h
      shm::report_progress();
      ssize_t n = pwrite(fd, static_cast<const char*>(map) + done, std::min(kCopyChunkBytes, len - done),
                         off_t(off + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int e = n < 0 ? errno : EIO;
        munmap(map, len);
        return fail(errno_status("write", tmp, e));
      }
      done += size_t(n);
    }
    munmap(map, len);
  }
  ::close(in);
  // Not durable (see above); a re-sent copy replaces the one of an earlier round.
  return shm::publish(env, fd, tmp, dst, shm::Replace::kAllowed, false);
}

}  // namespace

BackupWorker::BackupWorker(shm::Block& block, int node_id, RecordStore& store)
    : block_(block), b_(block.layout()), id_(node_id), store_(store) {}

BackupWorker::~BackupWorker() { stop(); }

void BackupWorker::start_worker(std::function<void()> body) {
  join_worker();
  worker_done_.store(false);
  worker_ = std::thread([this, body = std::move(body)] {
    body();
    worker_done_.store(true, std::memory_order_release);
  });
}

bool BackupWorker::worker_finished() const {
  return !worker_.joinable() || worker_done_.load(std::memory_order_acquire);
}

void BackupWorker::join_worker() {
  if (worker_.joinable()) worker_.join();  // callers make sure it has finished, or wait on purpose
}

void BackupWorker::stop() {
  if (!worker_.joinable()) return;
  // The worker runs at idle priority: on a busy machine it may wait long
  // for a core. Give it the normal policy for the rest of its work.
  sched_param p{};
  pthread_setschedparam(worker_.native_handle(), SCHED_OTHER, &p);
  const Deadline d = Deadline::in_ms(stop_timeout_ms());
  while (!worker_finished() && !d.passed()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (worker_finished()) return join_worker();
  // Stuck (a hung disk, uninterruptible sleep): joining could take for
  // ever, and the launcher would have to kill the node. Nothing of a
  // stopping node's memory needs saving, so it leaves now, log flushed.
  spdlog::error("node {}: backup thread did not finish within {} ms of the stop; exiting without it", id_,
                stop_timeout_ms());
  spdlog::shutdown();
  _exit(0);
}

uint64_t BackupWorker::stop_timeout_ms() {
  // Tests shorten it; anything else is the agreed bound.
  if (const char* v = getenv("CACHEVAULT_TEST_WORKER_STOP_MS"); v && *v) return strtoull(v, nullptr, 10);
  return shm::kWorkerStopTimeoutMs;
}

Status BackupWorker::create_schedule(const std::string& out_dir, bool allow_partial, uint64_t* id) {
  if (!out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec) return Status::invalid("--out " + out_dir + ": " + ec.message());
    if (access(out_dir.c_str(), W_OK) != 0) return errno_status("write to --out", out_dir, errno);
  }
  Status s = shm::create_schedule(block_, out_dir, allow_partial, id_, id);
  if (!s) return s;
  spdlog::info("node {}: backup {} created (table epoch {})", id_, *id, b_.table.epoch.load());
  block_.notify_change();
  failpoint(kFpScheduleCreated);
  return s;
}

void BackupWorker::poll() {
  // Slots are read from the block, which any process can write: a
  // malformed one is dropped before anything is indexed by its values.
  shm::drop_malformed_schedules(block_);
  for (int i = 0; i < shm::kMaxSchedules; ++i) {
    shm::ScheduleSlot& s = b_.schedules[i];
    const uint64_t sid = s.id;
    if (sid == 0) continue;
    const auto st = shm::ScheduleState(s.state.load());
    if (shm::schedule_active(st) && !shm::target_up(b_, int(s.target))) {
      shm::ScheduleLock g(b_);
      if (g.locked() && s.id == sid && shm::schedule_active(shm::ScheduleState(s.state.load())) &&
          !shm::target_up(b_, int(s.target))) {
        spdlog::warn("node {}: backup {}: target{} is down; failing over", id_, sid, s.target);
        shm::fail_over_locked(b_, s, Code::kPeerDown, "target" + std::to_string(s.target) + " is down");
        block_.notify_change();
      }
    }
    if (st == shm::ScheduleState::kEnable && !busy_.load()) {
      shm::ScheduleEntry& e = s.entries[id_];
      const auto es = shm::EntryState(e.state.load());
      const bool first = es == shm::EntryState::kPending;
      const bool again = es == shm::EntryState::kSent && e.send_round != s.round;
      if (!first && !again) continue;
      // A previous thread (removing a spent copy) may still run at idle
      // priority: the request loop never waits for it, it comes back later.
      if (!worker_finished()) continue;
      join_worker();
      busy_.store(true);
      if (first) {
        e.progress_ns.store(mono_ns(), std::memory_order_relaxed);
        shm::set_entry_state(s, uint32_t(id_), shm::EntryState::kSnapshotting);
        block_.notify_change();
        if (failpoint(kFpSnapshotStart)) {
          fail_entry(i, sid, "snapshot failed (failpoint)");
          continue;
        }
        // The snapshot instant: taken here, on the thread that applies
        // writes, between two requests. step() then copies the partitions.
        take_spent_snapshot();
        store_.begin_snapshot();
        capture_ = std::make_unique<Capture>(Capture{i, sid, 0, mono_ns(), SnapshotRecords{}});
        // Room for what the node holds plus keys that arrive while copying:
        // growing it on the request loop would copy it whole there.
        const uint64_t n = store_.records();
        capture_->snap.entries.reserve(n + n / 8 + 1024);
      } else {
        start_worker([this, i, sid] { resend(i, sid); });
      }
    }
    if (!shm::schedule_active(st) && sid > cleaned_through_ && !busy_.load()) {
      // Freeing a large file takes the file system a while: not on the
      // request loop.
      if (!worker_finished()) continue;
      cleaned_through_ = sid;
      start_worker([path = shm::local_copy_path(b_, id_, sid)] {
        shm::run_as_background();
        shm::FileEnv::real().unlink(path);
      });
    }
  }
}

void BackupWorker::fail_entry(int slot, uint64_t sid, const std::string& why) {
  spdlog::error("node {}: backup {}: {}", id_, sid, why);
  shm::ScheduleSlot& s = b_.schedules[slot];
  shm::ScheduleLock g(b_);
  if (s.id == sid) shm::set_entry_state(s, uint32_t(id_), shm::EntryState::kFailed);
  block_.notify_change();
  stop_reporting_progress();
  busy_.store(false);
}

void BackupWorker::report_progress_to(int slot) {
  shm::progress_stamp = &b_.schedules[slot].entries[id_].progress_ns;
  shm::report_progress();
  worker_slot_.store(slot);
  worker_tid_.store(int(gettid()));
}

void BackupWorker::stop_reporting_progress() {
  if (shm::progress_stamp == nullptr) return;  // not the worker thread
  worker_tid_.store(0);
  shm::progress_stamp = nullptr;
}

void BackupWorker::vouch_for_worker() {
  const int tid = worker_tid_.load();
  const int slot = worker_slot_.load();
  if (tid == 0 || slot < 0 || shm::thread_state(getpid(), tid) != 'R') return;
  b_.schedules[slot].entries[id_].progress_ns.store(mono_ns(), std::memory_order_relaxed);
}

void BackupWorker::take_spent_snapshot() {
  if (!snapshot_spent_.load(std::memory_order_acquire)) return;
  snapshot_spent_.store(false, std::memory_order_relaxed);
  std::vector<BlobRef> released = store_.release_snapshot();
  for (BlobRef& b : spent_kept_) released.push_back(std::move(b));
  spent_kept_.clear();
  if (to_drop_.empty()) to_drop_.swap(released);
  else for (BlobRef& b : released) to_drop_.push_back(std::move(b));
}

void BackupWorker::drop_some() {
  const uint64_t until = mono_ns() + kCaptureSliceNs;
  while (!to_drop_.empty()) {
    for (int i = 0; i < 256 && !to_drop_.empty(); ++i) to_drop_.pop_back();
    if (mono_ns() >= until) return;
  }
  std::vector<BlobRef>().swap(to_drop_);
}

void BackupWorker::step() {
  take_spent_snapshot();
  if (!to_drop_.empty()) drop_some();
  if (!capture_) return;
  // Copy partitions for at most kCaptureSliceNs, then let requests in: no
  // write waits longer than one slice, and no thread competes for a lock.
  const uint64_t now = mono_ns();
  b_.schedules[capture_->slot].entries[id_].progress_ns.store(now, std::memory_order_relaxed);
  const uint64_t until = now + kCaptureSliceNs;
  while (capture_->next_partition < store_.partitions() && mono_ns() < until)
    store_.capture(capture_->next_partition++, &capture_->snap);
  if (capture_->next_partition < store_.partitions()) return;
  store_.end_snapshot();
  std::unique_ptr<Capture> done = std::move(capture_);
  // The capture started once the previous thread was joined (poll).
  auto shared = std::make_shared<std::unique_ptr<Capture>>(std::move(done));
  start_worker([this, shared] { write_and_send(std::move(*shared)); });
}

void BackupWorker::write_and_send(std::unique_ptr<Capture> c) {
  const int slot = c->slot;
  const uint64_t sid = c->schedule_id;
  // Sorting, writing and sending yield to the request loop so that writes
  // do not stall behind them, and show the target they are moving.
  shm::run_as_background();
  report_progress_to(slot);
  Status st = write_local_copy(*c);
  // The snapshot is spent: the request loop releases it and drops what it
  // kept alive.
  c->snap.free_gradually();
  spent_kept_ = std::move(c->snap.kept);
  c.reset();
  snapshot_spent_.store(true, std::memory_order_release);
  if (!st) return fail_entry(slot, sid, "writing the local copy failed: " + st.message());
  if (failpoint(kFpSnapshotEnd)) return fail_entry(slot, sid, "snapshot failed (failpoint)");
  resend(slot, sid);
}

Status BackupWorker::write_local_copy(Capture& c) {
  const uint64_t sid = c.schedule_id;
  SnapshotRecords& snap = c.snap;
  shm::ScheduleSlot& s = b_.schedules[c.slot];
  shm::ScheduleEntry& e = s.entries[id_];
  const uint64_t t_captured = mono_ns();
  snap.sort();
  const uint64_t t_sorted = mono_ns();
  std::error_code ec;
  std::filesystem::create_directories(shm::node_dir(b_, id_), ec);
  // Copies of earlier schedules are of no use any more (a node restarted
  // before it could remove them, for one).
  shm::remove_node_copies(b_.config.data_dir, id_, sid);
  const std::string path = shm::local_copy_path(b_, id_, sid);
  fmt::FileHeaderInfo info;
  info.kind = fmt::kNodeCopy;
  info.backup_id = sid;
  info.node_id = uint32_t(id_);
  info.source_nodes = s.nodes;
  info.source_replicas = s.replicas;
  info.source_partitions = s.partitions;
  info.created_ns = s.created_ns;
  std::unique_ptr<fmt::BackupWriter> w;
  Status st = fmt::BackupWriter::create(path, info, &w);
  // A record expired by now goes into the copy as a tombstone of its
  // version: the key is gone, and a replica's copy taken a moment earlier,
  // when it had not expired yet, must not bring it back at consolidation.
  const uint64_t now_ms = shm::wall_ms();
  for (size_t i = 0; st && i < snap.entries.size(); ++i) {
    snap.prefetch(i + SnapshotRecords::kPrefetchAhead);
    shm::background_yield_point();
    const auto& en = snap.entries[i];
    const RecordBlob& b = *en.blob;
    if (shm::is_expired(b.expire_ms(), now_ms))
      st = w->add(fmt::RecordView{snap.key(en), {}, b.version(), b.timestamp(), true, 0});
    else
      st = w->add(fmt::RecordView{snap.key(en), snap.value(en), b.version(), b.timestamp(), b.tombstone(),
                                  b.expire_ms()});
  }
  // A copy of this schedule left by an earlier attempt is scratch: replace it.
  if (st) st = w->finish(false, shm::Replace::kAllowed);
  if (!st) return st;
  e.records = snap.entries.size();
  e.snapshot_ns = mono_ns() - c.started_ns;
  spdlog::info("node {}: backup {}: hot backup of {} records in {:.1f} ms (copy {:.1f}, sort {:.1f}, write {:.1f})",
               id_, sid, e.records, double(e.snapshot_ns) / 1e6, double(t_captured - c.started_ns) / 1e6,
               double(t_sorted - t_captured) / 1e6, double(mono_ns() - t_sorted) / 1e6);
  return Status::ok();
}

void BackupWorker::resend(int slot, uint64_t sid) {
  shm::run_as_background();
  shm::ScheduleSlot& s = b_.schedules[slot];
  shm::ScheduleEntry& e = s.entries[id_];
  report_progress_to(slot);
  const std::string path = shm::local_copy_path(b_, id_, sid);
  std::error_code size_ec;
  const uint64_t copy_size = std::filesystem::file_size(path, size_ec);
  Status st = size_ec ? Status::io_error("local copy " + path + ": " + size_ec.message()) : Status::ok();
  for (int attempt = 0; st && attempt < 2 * shm::kMaxTargets + 2; ++attempt) {
    uint32_t target, round;
    {
      shm::ScheduleLock g(b_);
      if (!g.locked()) {
        st = Status::timeout("block lock");
        break;
      }
      if (s.id != sid || shm::ScheduleState(s.state.load()) != shm::ScheduleState::kEnable) break;
      target = s.target;
      round = s.round;
      // Reserve the copy's size against the target's quota.
      const uint64_t quota = b_.config.target_quota[target];
      auto& used = b_.nodes[shm::kFirstTargetMailbox + target].used_bytes;
      if (quota && used.load() + copy_size > quota) {
        spdlog::warn("node {}: backup {}: target{} quota of {} bytes is full", id_, sid, target, quota);
        shm::fail_over_locked(b_, s, Code::kFull,
                              "target" + std::to_string(target) + " quota of " + std::to_string(quota) + " bytes");
        block_.notify_change();
        continue;
      }
      used.fetch_add(copy_size);
      shm::set_entry_state(s, uint32_t(id_), shm::EntryState::kSending);
    }
    block_.notify_change();
    const uint64_t t0 = mono_ns();
    Status sent = failpoint(kFpSendStart) ? Status::io_error("send failed (failpoint)") : Status::ok();
    std::error_code ec;
    std::filesystem::create_directories(shm::incoming_dir(b_, int(target), sid), ec);
    if (sent && ec) sent = Status::io_error("mkdir " + shm::incoming_dir(b_, int(target), sid) + ": " + ec.message());
    if (sent) sent = copy_through_mapping(path, shm::incoming_copy_path(b_, int(target), sid, id_));
    shm::ScheduleLock g(b_);
    if (!g.locked()) {
      st = Status::timeout("block lock");
      break;
    }
    if (!sent) b_.nodes[shm::kFirstTargetMailbox + target].used_bytes.fetch_sub(copy_size);
    if (s.id != sid || shm::ScheduleState(s.state.load()) != shm::ScheduleState::kEnable) break;
    if (s.round != round) continue;  // failed over while sending: send again
    if (!sent && sent.code() == Code::kFull) {
      spdlog::warn("node {}: backup {}: target{} is full: {}", id_, sid, target, sent.message());
      shm::fail_over_locked(b_, s, Code::kFull, sent.message());
      block_.notify_change();
      continue;
    }
    if (!sent) {
      st = sent;
      break;
    }
    e.bytes = copy_size;
    e.transfer_ns = mono_ns() - t0;
    e.sent_to_target = target;
    e.send_round = round;
    shm::set_entry_state(s, uint32_t(id_), shm::EntryState::kSent);
    block_.notify_change();
    spdlog::info("node {}: backup {}: sent {} bytes to target{} in {:.1f} ms", id_, sid, e.bytes, target,
                 double(e.transfer_ns) / 1e6);
    break;
  }
  if (!st) {
    spdlog::error("node {}: backup {}: sending the copy failed: {}", id_, sid, st.message());
    shm::ScheduleLock g(b_);
    if (s.id == sid) shm::set_entry_state(s, uint32_t(id_), shm::EntryState::kFailed);
    block_.notify_change();
  }
  failpoint(kFpSendEnd);
  stop_reporting_progress();
  busy_.store(false);
}

}  // namespace cv::node
