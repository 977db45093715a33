// Target process main loop: heartbeat, schedule watching, consolidation.
#include "target/target_node.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "shm/process_start.h"
#include "target/schedule_driver.h"

namespace cv::target {

int run_target_node(const std::string& cluster, int t) {
  std::unique_ptr<shm::Block> block;
  if (int rc = shm::start_cluster_process(cluster, "target" + std::to_string(t), &block)) return rc;
  shm::BlockLayout& b = block->layout();
  const int slot = shm::kFirstTargetMailbox + t;
  shm::NodeSlot& me = b.nodes[slot];
  ScheduleDriver driver(*block, t);
  driver.beat();
  me.state.store(uint32_t(shm::NodeState::kUp));
  me.ready.store(1);
  block->notify_change();
  spdlog::info("target {} up, pid {}, quota {} bytes", t, getpid(), b.config.target_quota[t]);
  while (!shm::stop_requested().load() && !b.header.shutting_down.load()) {
    const uint32_t seen = b.header.change_seq.load();
    driver.beat();
    driver.poll();
    block->wait_change(seen, 50);
  }
  spdlog::info("target {} stopping", t);
  return 0;
}

}  // namespace cv::target
