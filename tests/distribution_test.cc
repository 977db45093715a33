// Specification of the data distribution table: placement, weight shares,
// minimal movement on recompute, determinism, input checks, key partitioning.
#include "node/distribution.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace cv::node {
namespace {

class DistributionTest : public testing::Test {
 protected:
  void Nodes(std::vector<double> weights, int replicas, int partitions = 256) {
    in_.weights = std::move(weights);
    in_.up.assign(in_.weights.size(), true);
    in_.replicas = replicas;
    in_.partitions = partitions;
  }
  void Down(int node) { in_.up[node] = false; }
  void Up(int node) { in_.up[node] = true; }

  void Compute() {
    Status s = compute_distribution(in_, &table_);
    ASSERT_TRUE(s.is_ok()) << s.message();
    ExpectValid();
  }
  // Recomputes from the current table and returns how many (partition, node)
  // memberships changed (counted once, on the side of the new holder).
  int Recompute() {
    DistributionTable next;
    Status s = recompute_distribution(in_, table_, TableReplicas(), &next);
    EXPECT_TRUE(s.is_ok()) << s.message();
    int moved = 0;
    for (int p = 0; p < in_.partitions; ++p)
      for (int r = 0; r < in_.replicas; ++r) moved += Holds(table_, p, next[p][r]) ? 0 : 1;
    previous_ = table_;
    table_ = std::move(next);
    previous_replicas_ = 0;
    ExpectValid();
    return moved;
  }

  void ExpectValid() {
    Status s = check_distribution(in_, table_);
    EXPECT_TRUE(s.is_ok()) << s.message();
  }
  static bool Holds(const DistributionTable& t, int p, int node) {
    return std::find(t[p].begin(), t[p].end(), node) != t[p].end();
  }
  int Slots(int node) const {
    int n = 0;
    for (const auto& row : table_) n += std::count(row.begin(), row.end(), node);
    return n;
  }
  int Primaries(int node) const {
    return std::count_if(table_.begin(), table_.end(), [&](const auto& r) { return r[0] == node; });
  }

  // The ideal, real-valued slot share of each node, computed independently of
  // the code under test: proportional to weight over up nodes, with shares
  // above P capped and their excess water-filled to the rest.
  std::vector<double> IdealSlots() const {
    const int n = in_.weights.size();
    std::vector<double> ideal(n, 0);
    std::vector<bool> capped(n, false);
    double total = double(in_.partitions) * in_.replicas;
    for (bool again = true; again;) {
      again = false;
      double left = total, wsum = 0;
      for (int i = 0; i < n; ++i) {
        if (capped[i])
          left -= in_.partitions;
        else if (in_.up[i])
          wsum += in_.weights[i];
      }
      for (int i = 0; i < n; ++i) {
        if (!in_.up[i] || capped[i]) continue;
        ideal[i] = left * in_.weights[i] / wsum;
        if (ideal[i] > in_.partitions) capped[i] = again = true;
      }
    }
    for (int i = 0; i < n; ++i)
      if (capped[i]) ideal[i] = in_.partitions;
    return ideal;
  }

  // Within 10% of the ideal share, or one slot where 10% is under one.
  void ExpectBalanced(bool check_primaries = true) {
    auto allowed = [](double ideal) { return std::max(0.10 * ideal, 1.0) + 1e-9; };
    const auto ideal = IdealSlots();
    double wsum = 0;
    for (size_t i = 0; i < in_.weights.size(); ++i) wsum += in_.up[i] ? in_.weights[i] : 0;
    for (size_t i = 0; i < in_.weights.size(); ++i) {
      double ideal_primaries = in_.up[i] ? in_.partitions * in_.weights[i] / wsum : 0;
      EXPECT_LE(std::abs(Slots(i) - ideal[i]), allowed(ideal[i]))
          << "node " << i << " holds " << Slots(i) << " slots, ideal " << ideal[i];
      if (!check_primaries) continue;
      EXPECT_LE(std::abs(Primaries(i) - ideal_primaries), allowed(ideal_primaries))
          << "node " << i << " is primary of " << Primaries(i) << ", ideal " << ideal_primaries;
    }
  }

  // The R the current table was built with, when a test changes R.
  int TableReplicas() const { return previous_replicas_ ? previous_replicas_ : in_.replicas; }

  DistributionInput in_;
  DistributionTable table_, previous_;
  int previous_replicas_ = 0;
};

struct Shape {
  std::vector<double> weights;
  int replicas;
  int partitions;
};

class DistributionShapes : public DistributionTest, public testing::WithParamInterface<Shape> {};
// Shapes with more nodes than replicas, so that one can be lost.
class DistributionLoss : public DistributionShapes {};

TEST_P(DistributionShapes, EveryPartitionHasRDistinctUpNodesSharedByWeight) {
  Nodes(GetParam().weights, GetParam().replicas, GetParam().partitions);
  Compute();
  ExpectBalanced();
}

TEST_P(DistributionLoss, LosingANodeMovesOnlyItsSlots) {
  Nodes(GetParam().weights, GetParam().replicas, GetParam().partitions);
  Compute();
  const int lost = in_.weights.size() - 1;
  const int held = Slots(lost);
  Down(lost);
  EXPECT_EQ(Recompute(), held);
  EXPECT_EQ(Slots(lost), 0);
  for (int p = 0; p < in_.partitions; ++p) {
    for (int r = 0; r < in_.replicas; ++r) {
      int node = previous_[p][r];
      if (node != lost) {
        EXPECT_TRUE(Holds(table_, p, node)) << "partition " << p << " lost node " << node;
      }
    }
    if (in_.replicas > 1) {
      // The next replica is promoted, or another to even out the primaries:
      // either way the new primary held the partition (and its data) before.
      EXPECT_TRUE(Holds(previous_, p, table_[p][0])) << "partition " << p;
    }
  }
  ExpectBalanced();
}

const Shape kSpareShapes[] = {
    {{1, 2, 3}, 2, 256},    {{1, 1, 1}, 2, 256},        {{1, 1, 1, 1, 1, 1, 1}, 3, 256},
    {{5, 1}, 1, 256},       {{1, 2, 3, 4, 5}, 2, 1024}, {{1, 1, 10}, 2, 256},
    {{3, 1, 1, 1}, 3, 512}, {{1, 1, 1}, 1, 4096},
};
INSTANTIATE_TEST_SUITE_P(Weights, DistributionShapes,
                         testing::Values(kSpareShapes[0], kSpareShapes[1], kSpareShapes[2],
                                         kSpareShapes[3], kSpareShapes[4], kSpareShapes[5],
                                         kSpareShapes[6], kSpareShapes[7], Shape{{1, 1}, 2, 256}));
INSTANTIATE_TEST_SUITE_P(Weights, DistributionLoss, testing::ValuesIn(kSpareShapes));

// Random shapes, fixed seed: every table is valid, a fresh one hits the slot
// quotas exactly, and after a loss and a return the shares stay within 10%.
TEST_F(DistributionTest, RandomShapesKeepEveryPromise) {
  std::mt19937 rng(20240611);  // mt19937's output is fixed by the standard
  for (int round = 0; round < 150; ++round) {
    const int n = 2 + rng() % 10, replicas = 1 + rng() % std::min(n - 1, 8);
    std::vector<double> weights;
    for (int i = 0; i < n; ++i) weights.push_back(0.5 + (rng() % 100) / 10.0);
    Nodes(weights, replicas, 256 << (rng() % 3));
    SCOPED_TRACE("round " + std::to_string(round));
    Compute();
    const DistributionQuotas quotas = compute_quotas(in_);
    for (int i = 0; i < n; ++i) EXPECT_EQ(Slots(i), quotas.slots[i]) << "node " << i;
    ExpectBalanced();
    const int lost = rng() % n;
    Down(lost);
    Recompute();
    ExpectBalanced();
    Up(lost);
    Recompute();
    ExpectBalanced(/*check_primaries=*/false);
  }
}

TEST_F(DistributionTest, TwoNodesTwoReplicasHoldEveryPartition) {
  Nodes({1, 1}, 2);
  Compute();
  EXPECT_EQ(Slots(0), 256);
  EXPECT_EQ(Slots(1), 256);
  EXPECT_EQ(Primaries(0), 128);
}

TEST_F(DistributionTest, ANodeWhoseShareExceedsPIsCappedAndTheRestWaterFilled) {
  Nodes({1, 1, 10}, 2);
  Compute();
  EXPECT_EQ(Slots(2), 256);
  EXPECT_EQ(Slots(0), 128);
  EXPECT_EQ(Slots(1), 128);
}

TEST_F(DistributionTest, DownNodesGetNothing) {
  Nodes({1, 1, 1, 1}, 2);
  Down(2);
  Compute();
  EXPECT_EQ(Slots(2), 0);
  ExpectBalanced();
}

TEST_F(DistributionTest, SameInputGivesSameTable) {
  Nodes({1, 2, 3, 4, 5}, 3, 1024);
  Compute();
  DistributionTable first = table_;
  Compute();
  EXPECT_EQ(first, table_);
}

TEST_F(DistributionTest, RecomputeWithNothingChangedMovesNothing) {
  Nodes({1, 2, 3, 4}, 2);
  Compute();
  EXPECT_EQ(Recompute(), 0);
  EXPECT_EQ(previous_, table_);
}

TEST_F(DistributionTest, LosingTwoNodesMovesOnlyTheirSlots) {
  Nodes({1, 1, 1, 1, 1, 1, 1}, 3);
  Compute();
  const int held = Slots(1) + Slots(4);
  Down(1);
  Down(4);
  EXPECT_EQ(Recompute(), held);
  ExpectBalanced();
}

TEST_F(DistributionTest, ANodeThatComesBackGetsItsShareWithoutReshufflingTheRest) {
  Nodes({1, 1, 1, 1}, 2);
  Compute();
  Down(3);
  Recompute();
  Up(3);
  int moved = Recompute();
  EXPECT_GT(Slots(3), 0);
  EXPECT_LE(moved, 128);  // its full share is 128 slots; nothing else moves
  // It does not lead partitions whose data it has not received yet...
  EXPECT_EQ(Primaries(3), 0);
  ExpectBalanced(/*check_primaries=*/false);
  // ...but once it has them, the next recompute hands it primaries by
  // reordering alone.
  EXPECT_EQ(Recompute(), 0);
  ExpectBalanced();
}

TEST_F(DistributionTest, ChangedWeightsMoveOnlyWhatTheNewSharesNeed) {
  Nodes({1, 1, 1}, 2, 300);
  Compute();
  in_.weights = {2, 1, 1};
  int moved = Recompute();
  ExpectBalanced();
  EXPECT_LE(moved, 300 - 200 + 10);  // node 0 goes from 200 to 300 slots
}

TEST_F(DistributionTest, MoreReplicasKeepEveryExistingHolder) {
  Nodes({1, 1, 1, 1}, 2);
  Compute();
  in_.replicas = 3;
  previous_replicas_ = 2;
  EXPECT_EQ(Recompute(), 256);  // exactly the new third copies
  ExpectBalanced();
}

TEST_F(DistributionTest, FewerReplicasDropOnlyCopies) {
  Nodes({1, 1, 1, 1}, 3);
  Compute();
  in_.replicas = 2;
  previous_replicas_ = 3;
  EXPECT_EQ(Recompute(), 0);
  for (int p = 0; p < 256; ++p) EXPECT_EQ(table_[p][0], previous_[p][0]);
  ExpectBalanced();
}

TEST_F(DistributionTest, APreviousTableOfAnotherShapeGivesAFreshTable) {
  Nodes({1, 2, 3}, 2);
  Compute();
  DistributionTable fresh = table_;
  table_.pop_back();
  Recompute();
  EXPECT_EQ(table_, fresh);
  table_[7][1] = table_[7][0];  // a duplicate holder is not a table we wrote
  Recompute();
  EXPECT_EQ(table_, fresh);
}

TEST_F(DistributionTest, InvalidInputIsRejectedNamingTheNumbers) {
  auto rejects = [&](const std::string& needle) {
    DistributionTable t;
    Status s = compute_distribution(in_, &t);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << needle;
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
    EXPECT_EQ(recompute_distribution(in_, t, 2, &t).code(), Code::kInvalidArgument);
  };
  Nodes({1, 1, 1}, 2, 0);
  rejects("partition count 0");
  Nodes({1, 1, 1}, 2, 4097);
  rejects("4097");
  Nodes({1, 1, 1}, 0);
  rejects("replica count 0");
  Nodes({1, 1, 1, 1, 1, 1, 1, 1, 1}, 9);
  rejects("replica count 9");
  Nodes({1, 1, 1}, 3);
  Down(0);
  rejects("only 2 of 3 nodes are up");
  Nodes({1, 0, 1}, 2);
  rejects("node 1 has weight 0");
  Nodes({1, -2, 1}, 2);
  rejects("node 1 has weight -2");
  Nodes({1, std::numeric_limits<double>::quiet_NaN(), 1}, 2);
  rejects("node 1 has weight");
  Nodes({1, 1, 1}, 2);
  in_.up.pop_back();
  rejects("3 weights for 2 nodes");
}

TEST_F(DistributionTest, PartitionOfIsTheKeysRedisSlotScaledToP) {
  // CLUSTER KEYSLOT foo is 12182 in Redis; 12182 * 256 / 16384 = 190.
  EXPECT_EQ(partition_of("foo", 256), 190u);
  EXPECT_EQ(partition_of("{foo}.bar", 256), partition_of("foo", 256));
  EXPECT_EQ(partition_of("", 1), 0u);
  EXPECT_EQ(partition_of_slot(16383, 4096), 4095u);
}

TEST_F(DistributionTest, PartitionsHoldContiguousSlotRanges) {
  for (uint32_t parts : {1u, 3u, 256u, 1000u, 4096u}) {
    EXPECT_EQ(first_slot_of(0, parts), 0u);
    EXPECT_EQ(first_slot_of(parts, parts), 16384u);
    for (uint32_t p = 0; p < parts; ++p) {
      const uint32_t a = first_slot_of(p, parts), b = first_slot_of(p + 1, parts);
      ASSERT_LT(a, b) << parts << " partitions, partition " << p;
      EXPECT_EQ(partition_of_slot(a, parts), p);
      EXPECT_EQ(partition_of_slot(b - 1, parts), p);
    }
  }
}

TEST_F(DistributionTest, PartitionOfSpreadsKeysEvenly) {
  constexpr int kKeys = 256 * 400;
  std::vector<int> hits(256, 0);
  for (int k = 0; k < kKeys; ++k) {
    uint32_t p = partition_of("key-" + std::to_string(k), 256);
    ASSERT_LT(p, 256u);
    ++hits[p];
  }
  auto [lo, hi] = std::minmax_element(hits.begin(), hits.end());
  EXPECT_GT(*lo, 400 * 3 / 4);  // about 5 standard deviations either side
  EXPECT_LT(*hi, 400 * 5 / 4);
}

}  // namespace
}  // namespace cv::node
