// The data distribution table: which serving nodes hold each partition,
// shared out in proportion to node weight, recomputed with minimal movement.
//
// Everything here is a pure, deterministic function of its arguments (no
// shared memory, no clocks, no randomness): the caller copies the result into
// the public storage block. Errors are returned as Status values.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "shm/status.h"

namespace cv::node {

inline constexpr int kMaxReplicasPerPartition = 8;
inline constexpr int kMaxDistributionPartitions = 4096;
// Node ids are uint16; the largest value marks an unused rank (>= R).
inline constexpr uint16_t kNoNode = 0xFFFF;
inline constexpr int kMaxDistributionNodes = 256;

struct DistributionInput {
  int partitions = 0;           // P, 1..kMaxDistributionPartitions
  int replicas = 0;             // R, 1..kMaxReplicasPerPartition, <= up nodes
  std::vector<double> weights;  // one per serving node (index = node id)
  std::vector<bool> up;         // same size as weights
};

// owners[p][0..R) lists R distinct node ids for partition p, primary first;
// ranks R..kMaxReplicasPerPartition-1 hold kNoNode.
using PartitionOwners = std::array<uint16_t, kMaxReplicasPerPartition>;
using DistributionTable = std::vector<PartitionOwners>;

// What each node should hold: replica slots over all P*R slots, and how many
// of those are primaries. Proportional to weight among up nodes; a node holds
// at most one slot per partition, so a share above P is capped at P and the
// excess water-filled to the others. Down nodes get 0.
struct DistributionQuotas {
  std::vector<int> slots;      // sums to P*R, each <= P
  std::vector<int> primaries;  // sums to P, each <= slots[i]
};

// Checks P, R, weights (finite, >= 0, > 0 for up nodes), sizes, and that at
// least R nodes are up. The error names the offending numbers.
Status validate_distribution_input(const DistributionInput& in);

// REQUIRES: validate_distribution_input(in) is ok.
DistributionQuotas compute_quotas(const DistributionInput& in);

// A fresh table: every node holds exactly quotas.slots[i] partitions, and the
// primaries follow quotas.primaries (to within a few percent).
Status compute_distribution(const DistributionInput& in, DistributionTable* out);

// A table for the new input that moves as little data as it can:
// every (partition, node) pair of `previous` whose node is still up stays
// (ranks may shift: when a primary is gone, the next replica is promoted);
// only the slots of nodes that went down are refilled, each with the eligible
// node furthest below its quota. Only if a node ends up more than ~5% away
// from its quota (a node came back, weights changed) are further slots moved.
// A previous table of the wrong shape (another P, unknown or duplicate ids
// in a partition) is ignored and a fresh table computed; a change of R keeps
// what it can.
Status recompute_distribution(const DistributionInput& in, const DistributionTable& previous,
                              int previous_replicas, DistributionTable* out);

// Ok if every partition lists `replicas` distinct up nodes and kNoNode after.
Status check_distribution(const DistributionInput& in, const DistributionTable& table);

// Keys map to the 16,384 Redis Cluster hash slots (CRC16 of the key or its
// {hash tag}), and slots to partitions in contiguous ranges: partition =
// slot * P / 16384. So a Redis client routes by slot and every slot has one
// primary, and CLUSTER SLOTS lists one range per partition at most.
// REQUIRES: 0 < partitions <= 16384.
uint32_t partition_of(std::string_view key, uint32_t partitions);
uint32_t partition_of_slot(uint32_t slot, uint32_t partitions);
// The first slot of a partition; partition p holds the slots
// [first_slot_of(p), first_slot_of(p + 1)).
uint32_t first_slot_of(uint32_t partition, uint32_t partitions);

}  // namespace cv::node
