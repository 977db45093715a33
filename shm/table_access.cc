// Seqlock read and locked write of the distribution table.
#include "shm/table_access.h"

#include <cstring>
#include <thread>

namespace cv::shm {

bool refresh_table(const BlockLayout& b, TableCopy* have) {
  const DistributionShm& t = b.table;
  for (;;) {
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
    if (next.partitions > kMaxPartitions || next.replicas > kMaxReplicas) continue;
    next.owners.resize(next.partitions);
    std::memcpy(next.owners.data(), t.owners, sizeof(t.owners[0]) * next.partitions);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (t.seq.load(std::memory_order_relaxed) != s1) continue;
    *have = std::move(next);
    return true;
  }
}

void publish_table(BlockLayout& b, const std::vector<std::array<uint16_t, kMaxReplicas>>& owners,
                   uint32_t replicas) {
  DistributionShm& t = b.table;
  t.seq.fetch_add(1, std::memory_order_acq_rel);  // odd: writing
  std::atomic_thread_fence(std::memory_order_release);
  t.replicas = replicas;
  t.partitions = uint32_t(owners.size());
  std::memcpy(t.owners, owners.data(), sizeof(t.owners[0]) * owners.size());
  t.epoch.fetch_add(1, std::memory_order_release);
  t.seq.fetch_add(1, std::memory_order_release);  // even: done
}

}  // namespace cv::shm
