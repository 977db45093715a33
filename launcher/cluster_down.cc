// cluster down: asks the launcher to stop (SIGTERM) and waits for it; if the
// launcher is gone or does not stop, kills what is left and removes the block.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "client/cli_output.h"
#include "launcher/launcher.h"
#include "shm/block.h"
#include "shm/clock.h"

namespace cv::launcher {

namespace {
constexpr uint64_t kDownTimeoutMs = 15000;

// Reads the block of a cluster even if its launcher is gone (attach refuses
// those), to find the pids to kill.
std::vector<int> child_pids_of(const std::string& name) {
  std::vector<int> pids;
  namespace bip = boost::interprocess;
  try {
    bip::shared_memory_object shm(bip::open_only, shm::segment_name(name).c_str(), bip::read_only);
    bip::offset_t size = 0;
    if (!shm.get_size(size) || uint64_t(size) < sizeof(shm::BlockLayout)) return pids;
    bip::mapped_region region(shm, bip::read_only, 0, sizeof(shm::BlockLayout));
    auto* b = static_cast<const shm::BlockLayout*>(region.get_address());
    if (b->header.magic != shm::kBlockMagic) return pids;
    for (const auto& n : b->nodes)
      if (n.pid.load() > 0) pids.push_back(n.pid.load());
  } catch (...) {
  }
  return pids;
}
}  // namespace

namespace {
int report_down(const std::string& name, bool json, const std::string& text, bool stale) {
  if (!json) {
    printf("%s\n", text.c_str());
    return 0;
  }
  nlohmann::ordered_json j;
  j["name"] = name;
  j["stopped"] = true;
  j["stale"] = stale;
  client::print_json(std::move(j));
  return 0;
}
}  // namespace

int cluster_down(const std::string& name, bool json) {
  if (Status s = shm::validate_cluster_name(name); !s) return client::report_error(client::kExitUsage, s.message());
  std::unique_ptr<shm::Block> block;
  Status s = shm::Block::attach(name, &block);
  const bool segment_exists = std::filesystem::exists("/dev/shm/" + shm::segment_name(name));
  if (!s) {
    if (!segment_exists) return client::report_error(client::kExitFailure, "cluster '" + name + "' is not running");
    for (int pid : child_pids_of(name))
      if (shm::pid_alive(pid)) kill(pid, SIGKILL);
    shm::Block::remove(name);
    return report_down(name, json, "cluster '" + name + "' was not running; removed its stale block", true);
  }
  const int launcher = block->layout().header.launcher_pid;
  std::vector<int> children = child_pids_of(name);
  kill(launcher, SIGTERM);
  Deadline d = Deadline::in_ms(kDownTimeoutMs);
  while (shm::pid_alive(launcher) && !d.passed()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (shm::pid_alive(launcher)) {
    fprintf(stderr, "cachevault: the launcher of cluster '%s' (pid %d) did not stop in %llu s; killing it\n",
            name.c_str(), launcher, static_cast<unsigned long long>(kDownTimeoutMs / 1000));
    kill(launcher, SIGKILL);
  }
  for (int pid : children)
    if (shm::pid_alive(pid)) kill(pid, SIGKILL);
  shm::Block::remove(name);
  return report_down(name, json, "cluster '" + name + "' down", false);
}

}  // namespace cv::launcher
