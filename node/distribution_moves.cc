// Rebalancing moves of the distribution table (see distribution_moves.h).
#include "node/distribution_moves.h"

#include <algorithm>
#include <deque>

#include "node/distribution_rank.h"

namespace cv::node::detail {

// Brings primaries towards their quota by swapping ranks inside partitions
// (no data moves), along chains: u, a replica of partition p1, becomes its
// primary in place of x1; x1 does the same in p2 in place of x2; ... so u
// gains one and the last node loses one. Chains reach nodes that no single
// swap can. Only nodes for which may_lead(p, node) holds are promoted. Stops
// once no node is more than `tolerance` (a fraction) off and under-quota
// nodes cannot reach over-quota ones.
void balance_primaries(const DistributionInput& in, const std::vector<int>& target, double tolerance,
                       const NodeTest& may_lead, DistributionTable* table) {
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
bool move_chain(const DistributionInput& in, const std::vector<int>& target, const NodeTest& held_before,
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

}  // namespace cv::node::detail
