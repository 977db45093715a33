// Moves that rebalance a distribution table towards its quotas while
// moving as little data as possible: rank swaps for primaries (no data
// moves), single slot moves, and chains of slot moves. Used by
// recompute_distribution(); each function says what it guarantees.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "node/distribution.h"

namespace cv::node::detail {

// A predicate on (partition, node).
using NodeTest = std::function<bool(int partition, int node)>;

// Brings primaries towards `target` by swapping ranks inside partitions;
// only nodes for which may_lead(p, node) holds are promoted.
void balance_primaries(const DistributionInput& in, const std::vector<int>& target, double tolerance,
                       const NodeTest& may_lead, DistributionTable* table);

// How far a node may sit from its slot quota before a recompute pays for
// moving data.
int slot_tolerance(int quota);

// Moves single slots from nodes over quota to up nodes under quota where one
// of the pair is off by more than its tolerance.
void rebalance_slots(const DistributionInput& in, const std::vector<int>& target, std::vector<int>* have,
                     std::vector<std::vector<uint16_t>>* rows);

// Applies the best chain of slot moves, if one helps; `held_before(p, node)`
// says whether a slot's data is already there (then taking it costs a move).
// Returns whether a chain was applied.
bool move_chain(const DistributionInput& in, const std::vector<int>& target, const NodeTest& held_before, bool paid,
                std::vector<int>* have, std::vector<std::vector<uint16_t>>* rows);

}  // namespace cv::node::detail
