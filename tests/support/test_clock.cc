// advance_clock: steps a cluster's test clock, checking healthy processes keep up.
#include "tests/support/test_clock.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>

#include "shm/block_layout.h"
#include "tests/support/raw_block.h"

namespace cv::test {
namespace {

// Shorter than every timeout judged on heartbeats (kNodeHeartbeatTimeoutMs
// is 5 s), so a process that stamped at the last step is never taken for
// silent at this one.
constexpr uint64_t kStepMs = 1000;

uint64_t real_mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

}  // namespace

void advance_clock(TestCluster& c, uint64_t ms, const std::vector<std::string>& stuck) {
  RawBlock raw(c.name());
  ASSERT_TRUE(raw.ok()) << "cluster " << c.name() << " has no block";
  shm::BlockLayout& b = raw.layout();
  ASSERT_TRUE(b.header.test_clock_flags & shm::kTestClockOn)
      << "cluster " << c.name() << " was not started with " << kTestClockEnvEntry;
  struct Watched {
    int slot;
    std::string name;
  };
  std::vector<Watched> watched;
  for (uint32_t n = 0; n < b.config.serving_nodes; ++n) watched.push_back({int(n), "serving" + std::to_string(n)});
  for (uint32_t t = 0; t < b.config.targets; ++t)
    watched.push_back({shm::kFirstTargetMailbox + int(t), "target" + std::to_string(t)});
  std::erase_if(watched, [&](const Watched& w) { return std::count(stuck.begin(), stuck.end(), w.name) > 0; });

  for (uint64_t moved = 0; moved < ms;) {
    const uint64_t step = std::min(kStepMs, ms - moved);
    const uint32_t offset = b.header.test_clock_offset_ms.fetch_add(uint32_t(step)) + uint32_t(step);
    moved += step;
    const uint64_t now = real_mono_ns() + uint64_t(offset) * 1'000'000ull;
    wait_until(
        [&] {
          for (const Watched& w : watched) {
            const shm::NodeSlot& s = b.nodes[w.slot];
            if (s.pid.load() <= 0 || !shm::node_state_live(shm::NodeState(s.state.load()))) continue;
            if (s.heartbeat_ns.load() < now) return false;
          }
          return true;
        },
        10000, 2);
  }
}

}  // namespace cv::test
