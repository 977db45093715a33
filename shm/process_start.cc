// Attach, logger, failpoints and stop signals for cluster processes.
#include "shm/process_start.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "shm/failpoints.h"
#include "shm/logging.h"

namespace cv::shm {

namespace {
std::atomic<bool> g_stop{false};
void on_stop_signal(int) { g_stop.store(true); }
}  // namespace

const std::atomic<bool>& stop_requested() { return g_stop; }

int start_cluster_process(const std::string& cluster, const std::string& name, std::unique_ptr<Block>* block) {
  if (Status s = Block::attach(cluster, block); !s) {
    fprintf(stderr, "cachevault %s: %s\n", name.c_str(), s.message().c_str());
    return 1;
  }
  if (Status s = init_process_logger(name, (*block)->layout().config.data_dir, true); !s) {
    fprintf(stderr, "cachevault %s: %s\n", name.c_str(), s.message().c_str());
    return 1;
  }
  if (Status s = init_failpoints(name); !s) {
    spdlog::error("{}", s.message());
    return 2;
  }
  signal(SIGTERM, on_stop_signal);
  signal(SIGINT, on_stop_signal);
  return 0;
}

}  // namespace cv::shm
