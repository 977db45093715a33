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
// it copied. Retries while a writer is in the middle of an update.
bool refresh_table(const BlockLayout& b, TableCopy* have);

// REQUIRES: the caller holds b.lock. Writes owners, joining holders and lost
// marks (sizes = partitions), bumps the epoch.
void publish_table(BlockLayout& b, const TableCopy& t);

}  // namespace cv::shm
