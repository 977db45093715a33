// Target process main loop: heartbeat, schedule watching, consolidation.
#include "target/target_node.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "shm/clock.h"
#include "shm/failpoints.h"
#include "shm/logging.h"
#include "target/schedule_driver.h"

namespace cv::target {

namespace {
std::atomic<bool> g_stop{false};
void on_term(int) { g_stop.store(true); }
}  // namespace

int run_target_node(const std::string& cluster, int t) {
  std::unique_ptr<shm::Block> block;
  Status s = shm::Block::attach(cluster, &block);
  if (!s) {
    fprintf(stderr, "cachevault target%d: %s\n", t, s.message().c_str());
    return 1;
  }
  shm::BlockLayout& b = block->layout();
  const std::string name = "target" + std::to_string(t);
  s = init_process_logger(name, b.config.data_dir, true);
  if (!s) return 1;
  s = init_failpoints(name);
  if (!s) {
    spdlog::error("{}", s.message());
    return 2;
  }
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  const int slot = shm::kFirstTargetMailbox + t;
  shm::NodeSlot& me = b.nodes[slot];
  ScheduleDriver driver(*block, t);
  me.heartbeat_ns.store(mono_ns());
  me.state.store(uint32_t(shm::NodeState::kUp));
  block->notify_change();
  spdlog::info("target {} up, pid {}, quota {} bytes", t, getpid(), b.config.target_quota[t]);
  while (!g_stop.load() && !b.header.shutting_down.load()) {
    const uint32_t seen = b.header.change_seq.load();
    me.heartbeat_ns.store(mono_ns(), std::memory_order_relaxed);
    driver.poll();
    block->wait_change(seen, 50);
  }
  spdlog::info("target {} stopping", t);
  return 0;
}

}  // namespace cv::target
