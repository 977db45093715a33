// Seqlock read, staged locked write and dead-writer repair of the
// distribution table.
#include "shm/table_access.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <thread>

#include "shm/clock.h"
#include "shm/failpoints.h"
#include "shm/rate_limited_log.h"

namespace cv::shm {

namespace {

// Why the table as read cannot be used, or "" if it can.
std::string table_problem(const BlockLayout& b, uint32_t partitions, uint32_t replicas,
                          const uint16_t (*owners)[kMaxReplicas]) {
  if (partitions == 0 || partitions > uint32_t(kMaxPartitions) || partitions != b.config.partitions)
    return "partition count " + std::to_string(partitions) + " is not the cluster's " +
           std::to_string(b.config.partitions);
  if (replicas == 0 || replicas > uint32_t(kMaxReplicas))
    return "replica count " + std::to_string(replicas) + " is out of range 1.." + std::to_string(kMaxReplicas);
  // Holders come first, kNoNode after the last (fewer: under-replicated;
  // none: lost).
  for (uint32_t p = 0; p < partitions; ++p) {
    bool ended = false;
    for (uint32_t k = 0; k < replicas; ++k) {
      if (owners[p][k] == kNoNode) {
        ended = true;
      } else if (ended || owners[p][k] >= kMaxServingNodes) {
        return "partition " + std::to_string(p) + " names node " + std::to_string(owners[p][k]) +
               (ended ? " after an empty rank" : ", which cannot exist");
      }
    }
  }
  return {};
}

RateLimitedLog g_table_log(1000);

bool give_up(Status* error, const std::string& why) {
  g_table_log.warn("distribution table not read: {}; keeping the copy held", why);
  if (error) *error = Status::timeout("distribution table: " + why);
  return false;
}

}  // namespace

bool refresh_table(const BlockLayout& b, TableCopy* have, Status* error) {
  const DistributionShm& t = b.table;
  Deadline deadline = Deadline::in_ms(kTableReadTimeoutMs);
  bool repaired = false;
  std::string problem;
  for (;;) {
    if (deadline.passed()) {
      if (repaired) return give_up(error, problem.empty() ? "a writer held it odd for too long" : problem);
      // A writer always holds the block lock. If it is gone, the lock says
      // so and the table is repaired; if it is alive and slow, the lock
      // is not free either and this read gives up.
      repaired = true;
      BlockLock g(const_cast<BlockLayout&>(b), kTableReadTimeoutMs);
      if (!g.locked()) return give_up(error, "a writer holds the block lock and has not finished its update");
      deadline = Deadline::in_ms(kTableReadTimeoutMs);
      continue;
    }
    uint32_t s1 = t.seq.load(std::memory_order_acquire);
    if (s1 & 1) {
      std::this_thread::yield();
      continue;
    }
    uint64_t epoch = t.epoch.load(std::memory_order_acquire);
    if (epoch == have->epoch && !have->owners.empty()) return false;
    TableCopy next;
    next.epoch = epoch;
    next.replicas = t.replicas;
    next.partitions = t.partitions;
    if (next.partitions > uint32_t(kMaxPartitions)) next.partitions = 0;  // checked below, after the copy
    next.owners.resize(next.partitions);
    next.joining.resize(next.partitions);
    next.lost.resize(next.partitions);
    if (next.partitions > 0) {  // memcpy from or to an empty vector's null data() is undefined
      std::memcpy(next.owners.data(), t.owners, sizeof(t.owners[0]) * next.partitions);
      std::memcpy(next.joining.data(), t.joining, sizeof(t.joining[0]) * next.partitions);
      std::memcpy(next.lost.data(), t.lost, sizeof(t.lost[0]) * next.partitions);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (t.seq.load(std::memory_order_relaxed) != s1) continue;
    // A consistent read: anything wrong with it stays wrong until the next
    // publish, so it is reported at once rather than re-read.
    problem = table_problem(b, t.partitions, next.replicas,
                            reinterpret_cast<const uint16_t(*)[kMaxReplicas]>(next.owners.data()));
    if (!problem.empty()) return give_up(error, problem);
    *have = std::move(next);
    return true;
  }
}

void publish_table(BlockLayout& b, const TableCopy& in) {
  DistributionShm& t = b.table;
  repair_table_locked(b);
  const size_t n = std::min<size_t>(in.owners.size(), kMaxPartitions);
  // Stage first: a writer killed from here on leaves a complete table for
  // the repair to publish.
  t.staged_valid.store(0, std::memory_order_release);
  t.staged_replicas = in.replicas;
  t.staged_partitions = uint32_t(n);
  t.staged_epoch = t.epoch.load(std::memory_order_relaxed) + 1;
  std::memcpy(t.staged_owners, in.owners.data(), sizeof(t.owners[0]) * n);
  for (size_t i = 0; i < n; ++i) {
    t.staged_joining[i] = i < in.joining.size() ? in.joining[i] : kNoNode;
    t.staged_lost[i] = i < in.lost.size() ? in.lost[i] : 0;
  }
  t.staged_valid.store(1, std::memory_order_release);

  t.seq.fetch_add(1, std::memory_order_acq_rel);  // odd: writing
  std::atomic_thread_fence(std::memory_order_release);
  t.replicas = in.replicas;
  t.partitions = uint32_t(n);
  const size_t half = n / 2;
  std::memcpy(t.owners, in.owners.data(), sizeof(t.owners[0]) * half);
  failpoint(kFpTablePublish);  // a crash here leaves seq odd and the table half written
  std::memcpy(t.owners + half, in.owners.data() + half, sizeof(t.owners[0]) * (n - half));
  std::memcpy(t.joining, t.staged_joining, sizeof(t.joining[0]) * n);
  std::memcpy(t.lost, t.staged_lost, sizeof(t.lost[0]) * n);
  t.epoch.fetch_add(1, std::memory_order_release);
  t.seq.fetch_add(1, std::memory_order_release);  // even: done
}

bool repair_table_locked(BlockLayout& b) {
  DistributionShm& t = b.table;
  const uint32_t seq = t.seq.load(std::memory_order_acquire);
  if ((seq & 1) == 0) return false;
  if (t.staged_valid.load(std::memory_order_acquire) == 1 && t.staged_partitions <= uint32_t(kMaxPartitions)) {
    // The dead writer had staged its whole table: finish its update.
    t.replicas = t.staged_replicas;
    t.partitions = t.staged_partitions;
    std::memcpy(t.owners, t.staged_owners, sizeof(t.owners[0]) * t.staged_partitions);
    std::memcpy(t.joining, t.staged_joining, sizeof(t.joining[0]) * t.staged_partitions);
    std::memcpy(t.lost, t.staged_lost, sizeof(t.lost[0]) * t.staged_partitions);
    t.epoch.store(std::max(t.staged_epoch, t.epoch.load() + 1), std::memory_order_release);
    spdlog::warn("distribution table: a writer died mid-update; republished the table it had staged (epoch {})",
                 t.epoch.load());
  } else {
    // Died before going odd is impossible (staging comes first), so this is
    // a block written by something else: keep what is there; readers check it.
    t.epoch.fetch_add(1, std::memory_order_release);
    spdlog::warn("distribution table: odd sequence with nothing staged; kept the live table (epoch {})",
                 t.epoch.load());
  }
  t.seq.store(seq + 1, std::memory_order_release);  // even again
  return true;
}

BlockLock::BlockLock(BlockLayout& b, uint64_t timeout_ms) : g_(b.lock, timeout_ms) {
  if (g_.locked()) repair_table_locked(b);
}

}  // namespace cv::shm
