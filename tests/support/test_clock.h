// Test support: moves a cluster's test clock (shm/clock.h) forward, so a
// test of a 5-15 s timeout (a fenced target, a copy left out, a replica
// given up on) waits a moment instead of the timeout itself.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/cli_runner.h"

namespace cv::test {

// Environment entry for TestCluster::up that starts the cluster on a test clock.
inline const std::string kTestClockEnvEntry = "CACHEVAULT_TEST_CLOCK=1";

// Moves the clock of every process of `c` (started with kTestClockEnvEntry)
// forward by `ms`, in steps well inside the shortest heartbeat timeout.
// After each step it waits (up to 10 s) until every live process not named
// in `stuck` ("serving1", "target0") has stamped its heartbeat on the new
// time, so that only the stuck ones look silent to the launcher; healthy
// ones are never fenced for the jump. Fails the test if the cluster is not
// on a test clock.
void advance_clock(TestCluster& c, uint64_t ms, const std::vector<std::string>& stuck = {});

}  // namespace cv::test
