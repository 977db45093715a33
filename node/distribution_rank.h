// Ranking nodes for a slot of the distribution table: the eligible node with
// the best key, ties broken by weighted rendezvous hashing, so that equal
// nodes spread over partitions without any dependence on iteration order.
// Shared by the table's construction and its rebalancing moves.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>

#include "node/distribution.h"

namespace cv::node::detail {

// Larger is better; compared first by .first. Doubles hold the integer keys
// exactly (all far below 2^53).
using Key = std::pair<double, double>;

// splitmix64's finaliser: cheap, well mixed, and stable across platforms.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Weighted rendezvous score: -w / ln(u) with u uniform in (0, 1) from the
// (partition, node) pair. Used only to break ties, so that equal nodes are
// spread over partitions without any dependence on iteration order.
inline double rendezvous(const DistributionInput& in, int partition, int node) {
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

}  // namespace cv::node::detail
