// Reading and publishing the data distribution table in the block. Readers
// use the seqlock and never take the block lock; writers hold it.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "shm/block.h"

namespace cv::shm {

struct TableCopy {
  uint64_t epoch = 0;
  uint32_t replicas = 0;
  uint32_t partitions = 0;
  std::vector<std::array<uint16_t, kMaxReplicas>> owners;  // owners[p][0] is the primary
};

// Copies the table if its epoch differs from `have->epoch`. Returns true if
// it copied. Retries while a writer is in the middle of an update.
bool refresh_table(const BlockLayout& b, TableCopy* have);

// REQUIRES: the caller holds b.lock. Writes the owners, bumps the epoch.
void publish_table(BlockLayout& b, const std::vector<std::array<uint16_t, kMaxReplicas>>& owners,
                   uint32_t replicas);

}  // namespace cv::shm
