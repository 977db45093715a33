// Builds and rebuilds the data distribution table by weight-proportional
// quotas, with weighted rendezvous hashing to break ties deterministically.
#include "node/distribution.h"

#include <xxhash.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <deque>
#include <numeric>
#include <string>
#include <utility>

namespace cv::node {
namespace {

// Larger is better; compared first by .first. Doubles hold the integer keys
// exactly (all far below 2^53).
using Key = std::pair<double, double>;

// splitmix64's finaliser: cheap, well mixed, and stable across platforms.
uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Weighted rendezvous score: -w / ln(u) with u uniform in (0, 1) from the
// (partition, node) pair. Used only to break ties, so that equal nodes are
// spread over partitions without any dependence on iteration order.
double rendezvous(const DistributionInput& in, int partition, int node) {
  uint64_t h = mix64((static_cast<uint64_t>(partition) << 32) | static_cast<uint32_t>(node));
  double u = (static_cast<double>(h >> 11) + 0.5) / 9007199254740992.0;  // 2^53
  return in.weights[node] / -std::log(u);
}

// The eligible node with the largest key; ties go to the best rendezvous
// score. Returns -1 if nothing is eligible.
template <typename Eligible, typename KeyOf>
int pick(const DistributionInput& in, int partition, Eligible eligible, KeyOf key_of) {
  int best = -1;
  Key best_key{};
  double best_score = 0;
  for (int i = 0; i < static_cast<int>(in.weights.size()); ++i) {
    if (!eligible(i)) continue;
    Key k = key_of(i);
    double score = rendezvous(in, partition, i);
    if (best < 0 || k > best_key || (k == best_key && score > best_score)) {
      best = i;
      best_key = k;
      best_score = score;
    }
  }
  return best;
}

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

// Brings primaries towards their quota by swapping ranks inside partitions
// (no data moves), along chains: u, a replica of partition p1, becomes its
// primary in place of x1; x1 does the same in p2 in place of x2; ... so u
// gains one and the last node loses one. Chains reach nodes that no single
// swap can. Only nodes for which may_lead(p, node) holds are promoted. Stops
// once no node is more than `tolerance` (a fraction) off and under-quota
// nodes cannot reach over-quota ones.
template <typename MayLead>
void balance_primaries(const DistributionInput& in, const std::vector<int>& target,
                       double tolerance, MayLead may_lead, DistributionTable* table) {
  const int n = static_cast<int>(target.size());
  std::vector<int> have(n, 0);
  for (const auto& row : *table) ++have[row[0]];
  // Rounded down: reordering moves no data, so small quotas are met exactly.
  auto tol = [&](int i) { return static_cast<int>(target[i] * tolerance); };
  std::vector<int> via(n * n), prev(n);
  for (bool moved = true; moved;) {
    moved = false;
    // Edge x -> y: x may take y's primary in partition via[x][y].
    std::fill(via.begin(), via.end(), -1);
    for (int p = 0; p < in.partitions; ++p) {
      const auto& row = (*table)[p];
      for (int r = 1; r < in.replicas; ++r) {
        if (via[row[r] * n + row[0]] < 0 && may_lead(p, row[r])) via[row[r] * n + row[0]] = p;
      }
    }
    // First from nodes badly under to any node over, then from any node
    // under to nodes badly over. Paths are simple, so each partition (one
    // primary each) is used at most once.
    for (int pass = 0; pass < 2 && !moved; ++pass) {
      std::fill(prev.begin(), prev.end(), -2);
      std::deque<int> queue;
      for (int i = 0; i < n; ++i) {
        if (target[i] - have[i] > (pass == 0 ? tol(i) : 0)) prev[i] = -1, queue.push_back(i);
      }
      int end = -1;
      while (!queue.empty() && end < 0) {
        const int x = queue.front();
        queue.pop_front();
        for (int y = 0; y < n && end < 0; ++y) {
          if (via[x * n + y] < 0 || prev[y] != -2) continue;
          prev[y] = x;
          queue.push_back(y);
          if (have[y] - target[y] > (pass == 0 ? 0 : tol(y))) end = y;
        }
      }
      if (end < 0) continue;
      int start = end;
      for (; prev[start] >= 0; start = prev[start]) {
        auto& row = (*table)[via[prev[start] * n + start]];
        std::swap(row[0], *std::find(row.begin() + 1, row.begin() + in.replicas, prev[start]));
      }
      ++have[start];
      --have[end];
      moved = true;  // sum |have - target| drops by 2: terminates
    }
  }
}

// How far a node may sit from its slot quota before a recompute pays for
// moving data: 5%, rounded down, so that the 10% balance promise holds even
// after rounding (a node with a quota under 20 is kept exact).
int slot_tolerance(int quota) { return quota / 20; }

// Moves single slots from nodes over quota to up nodes under quota, but only
// where one of the pair is off by more than its tolerance, so that small
// imbalances cost no data movement. The newcomer joins at the last rank: a
// node that has not received the partition's data yet must not lead it.
void rebalance_slots(const DistributionInput& in, const std::vector<int>& target,
                     std::vector<int>* have, std::vector<std::vector<uint16_t>>* rows) {
  auto tol = [&](int i) { return slot_tolerance(target[i]); };
  for (bool changed = true; changed;) {
    changed = false;
    for (int p = 0; p < in.partitions; ++p) {
      auto& row = (*rows)[p];
      for (size_t r = 0; r < row.size(); ++r) {
        const int o = row[r];
        const int over = (*have)[o] - target[o];
        if (over < 1) continue;
        auto eligible = [&](int j) {
          int under = target[j] - (*have)[j];
          return in.up[j] && under >= 1 && (over > tol(o) || under > tol(j)) &&
                 std::find(row.begin(), row.end(), j) == row.end();
        };
        int to = pick(in, p, eligible, [&](int j) { return Key{target[j] - (*have)[j], 0}; });
        if (to < 0) continue;
        --(*have)[o];
        ++(*have)[to];
        row.erase(row.begin() + r);
        row.push_back(static_cast<uint16_t>(to));
        --r;             // the next holder slid into this rank
        changed = true;  // lowers sum |have - target| by 2: terminates
      }
    }
  }
}

// Moves one slot's worth of holding along a chain: u takes a slot in some
// partition from x1, x1 takes one elsewhere from x2, ..., from the last node
// e. Single moves get stuck when u is already in every partition of the
// nodes with slots to spare; a chain gets round that. A step costs one data
// move unless the slot it takes was filled by this recompute (that data has
// to move anyway). A chain must lower sum (off_i / max(1, tol_i))^2, off =
// holding - quota, so repeated calls terminate and spread any unavoidable excess in
// proportion to tolerance. With `paid` false only free chains are taken;
// otherwise only those that fix a node more than its tolerance away. The
// cheapest, then most improving, chain wins. Returns whether one was applied.
template <typename HeldBefore>
bool move_chain(const DistributionInput& in, const std::vector<int>& target, HeldBefore held_before,
                bool paid, std::vector<int>* have, std::vector<std::vector<uint16_t>>* rows) {
  const int n = static_cast<int>(target.size());
  constexpr int kNoEdge = 2, kFar = 1 << 30;
  // Edge x -> y: x can take y's slot in partition via[x][y] (x not there).
  std::vector<int8_t> cost(n * n, kNoEdge);
  std::vector<int> via(n * n, -1);
  std::vector<char> in_row(n);
  for (int p = 0; p < in.partitions; ++p) {
    const auto& row = (*rows)[p];
    std::fill(in_row.begin(), in_row.end(), 0);
    for (int y : row) in_row[y] = 1;
    for (int y : row) {
      const int8_t c = held_before(p, y) ? 1 : 0;
      if (c > 0 && !paid) continue;
      for (int x = 0; x < n; ++x) {
        if (in.up[x] && !in_row[x] && c < cost[x * n + y]) cost[x * n + y] = c, via[x * n + y] = p;
      }
    }
  }
  auto off = [&](int i) { return int64_t{(*have)[i]} - target[i]; };
  auto tol = [&](int i) { return int64_t{slot_tolerance(target[i])}; };
  auto scale = [&](int i) { return std::max<int64_t>(1, tol(i)); };  // potential's unit
  int best_cost = kFar;
  double best_gain = 0;
  std::vector<int> best_path;
  std::vector<int> dist(n), prev(n);
  for (int u = 0; u < n; ++u) {
    if (!in.up[u]) continue;
    std::fill(dist.begin(), dist.end(), kFar);
    std::fill(prev.begin(), prev.end(), -1);
    std::deque<int> queue{u};
    dist[u] = 0;
    while (!queue.empty()) {  // 0-1 BFS: free steps go to the front
      int x = queue.front();
      queue.pop_front();
      for (int y = 0; y < n; ++y) {
        int c = cost[x * n + y];
        if (c == kNoEdge || dist[x] + c >= dist[y]) continue;
        dist[y] = dist[x] + c;
        prev[y] = x;
        c == 0 ? queue.push_front(y) : queue.push_back(y);
      }
    }
    for (int e = 0; e < n; ++e) {
      if (e == u || dist[e] == kFar || (!paid && dist[e] > 0)) continue;
      if (paid && off(u) >= -tol(u) && off(e) <= tol(e)) continue;
      // Change of the potential times scale_u^2 * scale_e^2, exact in integers.
      const int64_t su = scale(u) * scale(u), se = scale(e) * scale(e);
      const int64_t change = (1 - 2 * off(e)) * su + (1 + 2 * off(u)) * se;
      if (change >= 0) continue;
      const double gain = -double(change) / double(su * se);
      if (dist[e] > best_cost || (dist[e] == best_cost && gain <= best_gain)) continue;
      best_cost = dist[e];
      best_gain = gain;
      best_path.clear();
      for (int x = e; x != -1; x = prev[x]) best_path.insert(best_path.begin(), x);
    }
  }
  if (best_path.empty()) return false;
  // Each step's witness partition stays valid while earlier steps apply: the
  // path's nodes are distinct, so no step removes what a later one needs.
  for (size_t k = 0; k + 1 < best_path.size(); ++k) {
    const int x = best_path[k], y = best_path[k + 1];
    auto& row = (*rows)[via[x * n + y]];
    row.erase(std::find(row.begin(), row.end(), y));
    row.push_back(static_cast<uint16_t>(x));  // a newcomer never leads
  }
  ++(*have)[best_path.front()];
  --(*have)[best_path.back()];
  return true;
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
      if (id == kNoNode || std::find(row.begin(), row.end(), id) != row.end())
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

uint32_t partition_of(std::string_view key, uint32_t partitions) {
  assert(partitions > 0);
  return static_cast<uint32_t>(XXH64(key.data(), key.size(), 0) % partitions);
}

}  // namespace cv::node
