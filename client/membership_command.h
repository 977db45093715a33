// The membership commands: `node start ID`, `node add [--weight W]`,
// `node remove ID` and `rebalance [--by weights|measured]`. Each files a
// request in the cluster's block, which the launcher carries out as moves
// (data first, then the table), and follows it to its end.
#pragma once

#include <cstdint>
#include <string>

#include "shm/block_layout.h"

namespace cv::client {

struct MembershipOptions {
  shm::MemberOp op = shm::MemberOp::kNone;
  int node = -1;          // start, remove
  double weight = 0;      // add (0: 1)
  std::string by = "weights";  // rebalance: weights | measured
  bool accept_loss = false;    // rebalance: lost partitions start again empty
  int timeout_s = 600;
  bool json = false;
};

// Returns the exit code: 0 done, 1 refused or failed (with the reason),
// 2 usage (no such node).
int cmd_membership(const std::string& cluster, const MembershipOptions& o);

}  // namespace cv::client
