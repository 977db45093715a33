// Reading and publishing the data distribution table in the block. Readers
// use the seqlock and never take the block lock; writers hold it.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "shm/block.h"

namespace cv::shm {

using OwnerRow = std::array<uint16_t, kMaxReplicas>;

struct TableCopy {
  uint64_t epoch = 0;
  uint32_t replicas = 0;
  uint32_t partitions = 0;
  std::vector<OwnerRow> owners;   // owners[p][0] is the primary; kNoNode after the last holder
  std::vector<uint16_t> joining;  // joining[p]: a node receiving p in a move, or kNoNode
  std::vector<uint8_t> lost;      // lost[p]: every replica of p is gone

  // The live holders of p (ranks before the first kNoNode, at most replicas).
  uint32_t holders(uint32_t p) const {
    uint32_t n = 0;
    while (n < replicas && n < kMaxReplicas && owners[p][n] != kNoNode) ++n;
    return n;
  }
  bool holds(uint32_t p, int node) const {
    for (uint32_t k = 0, n = holders(p); k < n; ++k)
      if (owners[p][k] == node) return true;
    return false;
  }
  // The primary of p, or kNoNode when p has no holder.
  uint16_t primary(uint32_t p) const { return owners[p][0]; }
};

// Copies the table if its epoch differs from `have->epoch`. Returns true if
// it copied. Retries while a writer is in the middle of an update, for at
// most kTableReadTimeoutMs; then, if the writer died holding the block
// lock, repairs its update (repair_table_locked) and reads again. A table
// that stays unreadable, or that is malformed (partition or replica count
// out of range, an owner that is no serving node), is not taken: returns
// false, keeps *have as it was, logs (rate-limited) and, if `error` is
// given, says why there. Never waits longer than a few timeouts.
bool refresh_table(const BlockLayout& b, TableCopy* have, Status* error = nullptr);

// REQUIRES: the caller holds b.lock. Stages the new table (owners, joining
// holders and lost marks; sizes = partitions), then writes it and bumps the
// epoch under the seqlock.
void publish_table(BlockLayout& b, const TableCopy& t);

// REQUIRES: the caller holds b.lock. A writer that died inside
// publish_table left `seq` odd: republishes the table it had staged (or, if
// it died before staging was complete, keeps the live one) and makes `seq`
// even again. Returns true if it had to repair. Every holder of the block
// lock calls it (BlockLock does), since a writer always holds the lock: an
// odd `seq` seen under the lock can only be a dead writer's.
bool repair_table_locked(BlockLayout& b);

// The block lock, with what a dead previous holder left half-done repaired
// first (the table here; schedules in ScheduleLock). Use it, not a bare
// LockGuard on b.lock.
class BlockLock {
 public:
  explicit BlockLock(BlockLayout& b, uint64_t timeout_ms = kLockTimeoutMs);
  bool locked() const { return g_.locked(); }
  bool owner_died() const { return g_.owner_died(); }

 private:
  LockGuard g_;
};

}  // namespace cv::shm
