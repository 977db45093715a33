// cluster down: asks the launcher to stop (SIGTERM) and waits for it; if the
// launcher is gone or does not stop, kills what is left (only processes
// that are still the ones recorded) and removes the block and lock file.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "client/cli_output.h"
#include "launcher/launcher.h"
#include "launcher/process_control.h"
#include "shm/block.h"
#include "shm/clock.h"

namespace cv::launcher {

namespace {
constexpr uint64_t kDownTimeoutMs = 15000;

// The lock file goes with the block. A launcher that stops removes its own;
// this one is left by a launcher that died. Never removed while held.
void remove_lock_file(const std::string& name) {
  if (!shm::launcher_holds_lock(name)) unlink(shm::launcher_lock_path(name).c_str());
}

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
  // Not ours, or not private: neither stopped nor removed.
  if (!s && s.code() != Code::kNotFound) return client::report_error(client::kExitFailure, s.message());
  const bool segment_exists = std::filesystem::exists("/dev/shm/" + shm::segment_name(name));
  if (!s) {
    if (!segment_exists) return client::report_error(client::kExitFailure, "cluster '" + name + "' is not running");
    kill_recorded_processes(name);
    shm::Block::remove(name);
    remove_lock_file(name);
    return report_down(name, json, "cluster '" + name + "' was not running; removed its stale block", true);
  }
  const int launcher = block->layout().header.launcher_pid;
  kill(launcher, SIGTERM);
  Deadline d = Deadline::in_ms(kDownTimeoutMs);
  while (shm::pid_alive(launcher) && !d.passed()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (shm::pid_alive(launcher)) {
    fprintf(stderr, "cachevault: the launcher of cluster '%s' (pid %d) did not stop in %llu s; killing it\n",
            name.c_str(), launcher, static_cast<unsigned long long>(kDownTimeoutMs / 1000));
    kill(launcher, SIGKILL);
  }
  kill_recorded_processes(name);
  shm::Block::remove(name);
  remove_lock_file(name);
  return report_down(name, json, "cluster '" + name + "' down", false);
}

}  // namespace cv::launcher
