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
    next.joining.resize(next.partitions);
    next.lost.resize(next.partitions);
    std::memcpy(next.owners.data(), t.owners, sizeof(t.owners[0]) * next.partitions);
    std::memcpy(next.joining.data(), t.joining, sizeof(t.joining[0]) * next.partitions);
    std::memcpy(next.lost.data(), t.lost, sizeof(t.lost[0]) * next.partitions);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (t.seq.load(std::memory_order_relaxed) != s1) continue;
    *have = std::move(next);
    return true;
  }
}

void publish_table(BlockLayout& b, const TableCopy& in) {
  DistributionShm& t = b.table;
  const size_t p = std::min<size_t>(in.owners.size(), kMaxPartitions);
  t.seq.fetch_add(1, std::memory_order_acq_rel);  // odd: writing
  std::atomic_thread_fence(std::memory_order_release);
  t.replicas = in.replicas;
  t.partitions = uint32_t(p);
  std::memcpy(t.owners, in.owners.data(), sizeof(t.owners[0]) * p);
  for (size_t i = 0; i < p; ++i) {
    t.joining[i] = i < in.joining.size() ? in.joining[i] : kNoNode;
    t.lost[i] = i < in.lost.size() ? in.lost[i] : 0;
  }
  t.epoch.fetch_add(1, std::memory_order_release);
  t.seq.fetch_add(1, std::memory_order_release);  // even: done
}

}  // namespace cv::shm
