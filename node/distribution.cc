// Builds and rebuilds the data distribution table by weight-proportional
// quotas, with weighted rendezvous hashing to break ties deterministically.
#include "node/distribution.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numeric>
#include <string>
#include <utility>

#include "node/distribution_moves.h"
#include "node/distribution_rank.h"
#include "resp/key_slot.h"

namespace cv::node {
namespace {

using detail::balance_primaries;
using detail::Key;
using detail::move_chain;
using detail::pick;
using detail::rebalance_slots;

// Integer shares of `total` in proportion to weight, each at most cap[i]:
// water-fill (a capped node's excess goes to the others in proportion),
// then largest-remainder rounding, ties to the lower id.
std::vector<int> water_fill(const std::vector<double>& weight, const std::vector<int>& cap,
                            int total) {
  const int n = static_cast<int>(weight.size());
  std::vector<double> share(n, 0.0);
  std::vector<bool> fixed(n);
  for (int i = 0; i < n; ++i) fixed[i] = weight[i] <= 0 || cap[i] <= 0;
  double remaining = total;
  for (bool capped = true; capped;) {
    capped = false;
    double wsum = 0;
    for (int i = 0; i < n; ++i) wsum += fixed[i] ? 0 : weight[i];
    if (wsum <= 0) break;
    // Capping every node over its cap in one pass is safe: capping one only
    // raises the share per unit weight of the rest.
    for (int i = 0; i < n; ++i) {
      if (fixed[i]) continue;
      share[i] = remaining * weight[i] / wsum;
      if (share[i] >= cap[i]) {
        share[i] = cap[i];
        fixed[i] = true;
        remaining -= cap[i];
        capped = true;
      }
    }
  }
  std::vector<int> out(n);
  int sum = 0;
  for (int i = 0; i < n; ++i) sum += out[i] = std::min(cap[i], static_cast<int>(share[i]));
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return share[a] - out[a] > share[b] - out[b]; });
  // Loop rather than one pass so that float error can never leave a gap.
  for (bool gave = true; sum < total && gave;) {
    gave = false;
    for (int i : order) {
      if (sum == total) break;
      if (weight[i] > 0 && out[i] < cap[i]) ++out[i], ++sum, gave = true;
    }
  }
  return out;
}

}  // namespace

Status validate_distribution_input(const DistributionInput& in) {
  const std::string P = std::to_string(in.partitions), R = std::to_string(in.replicas);
  if (in.partitions < 1 || in.partitions > kMaxDistributionPartitions)
    return Status::invalid("partition count " + P + " is outside 1.." +
                           std::to_string(kMaxDistributionPartitions));
  if (in.replicas < 1 || in.replicas > kMaxReplicasPerPartition)
    return Status::invalid("replica count " + R + " is outside 1.." +
                           std::to_string(kMaxReplicasPerPartition));
  if (in.weights.size() != in.up.size())
    return Status::invalid(std::to_string(in.weights.size()) + " weights for " +
                           std::to_string(in.up.size()) + " nodes");
  if (in.weights.size() > static_cast<size_t>(kMaxDistributionNodes))
    return Status::invalid(std::to_string(in.weights.size()) + " nodes, at most " +
                           std::to_string(kMaxDistributionNodes) + " allowed");
  int up = 0;
  for (size_t i = 0; i < in.weights.size(); ++i) {
    double w = in.weights[i];
    if (!std::isfinite(w) || w < 0 || (in.up[i] && w <= 0))
      return Status::invalid("node " + std::to_string(i) + " has weight " + std::to_string(w) +
                             "; weights must be finite and > 0");
    up += in.up[i] ? 1 : 0;
  }
  if (up < in.replicas)
    return Status::invalid("only " + std::to_string(up) + " of " +
                           std::to_string(in.weights.size()) + " nodes are up, fewer than the " +
                           R + " replicas each partition needs");
  return Status::ok();
}

DistributionQuotas compute_quotas(const DistributionInput& in) {
  const int n = static_cast<int>(in.weights.size());
  std::vector<double> weight(n);
  for (int i = 0; i < n; ++i) weight[i] = in.up[i] ? in.weights[i] : 0.0;
  DistributionQuotas q;
  q.slots = water_fill(weight, std::vector<int>(n, in.partitions), in.partitions * in.replicas);
  q.primaries = water_fill(weight, q.slots, in.partitions);
  return q;
}

Status compute_distribution(const DistributionInput& in, DistributionTable* out) {
  if (Status s = validate_distribution_input(in); !s) return s;
  const int n = static_cast<int>(in.weights.size()), P = in.partitions, R = in.replicas;
  const DistributionQuotas q = compute_quotas(in);
  std::vector<int> given(n, 0), primaries(n, 0);
  // Co-holding: when a node is lost, a partner that shares too many of its
  // partitions cannot take its share of them, and a recompute must move more
  // than the lost slots. So pairs are kept near their proportional count
  // too: over the table, c shares about T_c * T_i * (R-1) / (P*R - T_c)
  // partitions with i (c's R-1 partners per partition, split by quota).
  std::vector<int> co(n * n, 0);
  std::vector<double> co_expected(n * n, 0.0);
  for (int c = 0; c < n; ++c) {
    for (int i = 0; i < n; ++i) {
      const double others = double(P) * R - q.slots[c];
      if (i != c && others > 0)
        co_expected[c * n + i] = double(q.slots[c]) * q.slots[i] * (R - 1) / others;
    }
  }
  DistributionTable table(P);
  for (int p = 0; p < P; ++p) {
    const int m = P - p;  // partitions still to fill, this one included
    // A node whose remaining quota equals m must be in every remaining
    // partition. Taking such nodes first keeps the fill feasible: at most R
    // of them exist and at least R nodes have quota left, so every node ends
    // exactly on its slot quota.
    auto left = [&](int i) { return q.slots[i] - given[i]; };
    int forced = 0;
    for (int i = 0; i < n; ++i) forced += left(i) == m ? 1 : 0;
    // Pace: how far behind its even share of the first p+1 partitions a node
    // is; picking the furthest behind spreads each node over the range.
    auto pace = [&](int i) { return int64_t{q.slots[i]} * (p + 1) - int64_t{given[i]} * P; };
    // The same, in the same units, for the pairs i would form in this row.
    auto pair_pace = [&](int i, int r) {
      double behind = 0;
      for (int k = 0; k < r; ++k) {
        const int c = table[p][k];
        behind += co_expected[c * n + i] * (p + 1) - double(co[c * n + i]) * P;
      }
      return behind;
    };
    auto primary_pace = [&](int i) {
      return int64_t{q.primaries[i]} * (p + 1) - int64_t{primaries[i]} * P;
    };
    auto& row = table[p];
    row.fill(kNoNode);
    int primary = pick(
        in, p, [&](int i) { return left(i) > 0 && (forced < R || left(i) == m); },
        [&](int i) {
          return Key{q.primaries[i] > primaries[i], primary_pace(i)};
        });
    row[0] = static_cast<uint16_t>(primary);
    ++primaries[primary];
    forced -= left(primary) == m ? 1 : 0;
    ++given[primary];
    for (int r = 1; r < R; ++r) {
      auto in_row = [&](int i) {
        return std::find(row.begin(), row.begin() + r, i) != row.begin() + r;
      };
      int next = pick(
          in, p, [&](int i) { return left(i) > 0 && !in_row(i) && (forced == 0 || left(i) == m); },
          [&](int i) {
            return Key{pace(i) + pair_pace(i, r), 0};
          });
      assert(next >= 0);
      row[r] = static_cast<uint16_t>(next);
      for (int k = 0; k < r; ++k) ++co[row[k] * n + next], ++co[next * n + row[k]];
      forced -= left(next) == m ? 1 : 0;
      ++given[next];
    }
  }
  balance_primaries(
      in, q.primaries, 0.0, [](int, int) { return true; }, &table);
  *out = std::move(table);
  return Status::ok();
}

Status recompute_distribution(const DistributionInput& in, const DistributionTable& previous,
                              int previous_replicas, DistributionTable* out) {
  if (Status s = validate_distribution_input(in); !s) return s;
  const int n = static_cast<int>(in.weights.size()), P = in.partitions, R = in.replicas;
  if (static_cast<int>(previous.size()) != P || previous_replicas < 1 ||
      previous_replicas > kMaxReplicasPerPartition)
    return compute_distribution(in, out);
  // Keep every previous holder that is still up; ids past the node count
  // belong to nodes that no longer exist and count as down.
  std::vector<std::vector<uint16_t>> rows(P);
  std::vector<int> have(n, 0);
  for (int p = 0; p < P; ++p) {
    for (int r = 0; r < previous_replicas; ++r) {
      uint16_t id = previous[p][r];
      auto& row = rows[p];
      if (id == kNoNode) continue;  // an empty rank: an under-replicated partition
      if (std::find(row.begin(), row.end(), id) != row.end())
        return compute_distribution(in, out);  // not a table we wrote
      if (id < n && in.up[id]) row.push_back(id), ++have[id];
    }
  }
  const DistributionQuotas q = compute_quotas(in);
  // Fewer replicas than before: drop, from each partition, the non-primary
  // holder most over its quota.
  for (int p = 0; p < P; ++p) {
    auto& row = rows[p];
    while (static_cast<int>(row.size()) > R) {
      auto worst = std::max_element(row.begin() + 1, row.end(), [&](int a, int b) {
        return have[a] - q.slots[a] < have[b] - q.slots[b];
      });
      --have[*worst];
      row.erase(worst);
    }
  }
  // Refill the empty slots with the eligible node furthest below its quota.
  for (int p = 0; p < P; ++p) {
    auto& row = rows[p];
    while (static_cast<int>(row.size()) < R) {
      int next = pick(
          in, p,
          [&](int i) { return in.up[i] && std::find(row.begin(), row.end(), i) == row.end(); },
          [&](int i) {
            return Key{q.slots[i] - have[i], 0};
          });
      assert(next >= 0);  // R <= up nodes, so some up node is always missing
      row.push_back(static_cast<uint16_t>(next));
      ++have[next];
    }
  }
  auto held_before = [&](int p, int node) {
    const auto& row = previous[p];
    return std::find(row.begin(), row.begin() + previous_replicas, node) !=
           row.begin() + previous_replicas;
  };
  // Free fixes first (the greedy fill can strand a node short of quota), then
  // paid ones where a node is off by more than its tolerance: direct moves in
  // bulk, chains for what direct moves cannot reach.
  while (move_chain(in, q.slots, held_before, false, &have, &rows)) {
  }
  rebalance_slots(in, q.slots, &have, &rows);
  while (move_chain(in, q.slots, held_before, false, &have, &rows) ||
         move_chain(in, q.slots, held_before, true, &have, &rows)) {
  }
  DistributionTable table(P);
  for (int p = 0; p < P; ++p) {
    table[p].fill(kNoNode);
    std::copy(rows[p].begin(), rows[p].end(), table[p].begin());
  }
  // Promoted replicas can bunch primaries on a few nodes; reorder only where
  // a node is off by more than 5%, so that primaries rarely change, and only
  // towards nodes that held the partition before (they have its data).
  balance_primaries(in, q.primaries, 0.05, held_before, &table);
  *out = std::move(table);
  return Status::ok();
}

Status check_distribution(const DistributionInput& in, const DistributionTable& table) {
  if (Status s = validate_distribution_input(in); !s) return s;
  if (static_cast<int>(table.size()) != in.partitions)
    return Status::invalid("table has " + std::to_string(table.size()) + " partitions, expected " +
                           std::to_string(in.partitions));
  const int n = static_cast<int>(in.weights.size());
  for (int p = 0; p < in.partitions; ++p) {
    const auto& row = table[p];
    for (int r = 0; r < kMaxReplicasPerPartition; ++r) {
      const std::string where = "partition " + std::to_string(p) + " rank " + std::to_string(r);
      if (r >= in.replicas) {
        if (row[r] != kNoNode) return Status::invalid(where + " is past R but names a node");
        continue;
      }
      if (row[r] >= n || !in.up[row[r]])
        return Status::invalid(where + " names node " + std::to_string(row[r]) +
                               ", which is not up");
      if (std::find(row.begin(), row.begin() + r, row[r]) != row.begin() + r)
        return Status::invalid(where + " repeats node " + std::to_string(row[r]));
    }
  }
  return Status::ok();
}

uint32_t partition_of_slot(uint32_t slot, uint32_t partitions) {
  assert(partitions > 0 && slot < resp::kSlotCount);
  return uint32_t(uint64_t(slot) * partitions / resp::kSlotCount);
}

uint32_t first_slot_of(uint32_t partition, uint32_t partitions) {
  // The least slot s with s * P / 16384 >= partition.
  return uint32_t((uint64_t(partition) * resp::kSlotCount + partitions - 1) / partitions);
}

uint32_t partition_of(std::string_view key, uint32_t partitions) {
  return partition_of_slot(resp::key_slot(key), partitions);
}

}  // namespace cv::node
