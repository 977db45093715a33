// Failpoint parsing and triggering. Cheap when unset: one relaxed load.
#include "shm/failpoints.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace cv {

namespace {

constexpr FailpointInfo kKnown[] = {
    {"schedule.created", "serving node, after uploading a new backup schedule"},
    {"schedule.enable", "target, when setting a schedule to enable"},
    {"snapshot.start", "serving node, starting its hot backup"},
    {"snapshot.end", "serving node, after writing its local copy"},
    {"send.start", "serving node, starting to send its copy to the target"},
    {"send.end", "serving node, after its copy was sent"},
    {"target.receive", "target, checking the received copies"},
    {"consolidate.start", "target, starting consolidation"},
    {"consolidate.end", "target, after writing the consolidated file"},
    {"consolidate.rename", "target, before renaming the consolidated file into place"},
    {"schedule.lock", "any process, while holding the block lock during a schedule update"},
    {"backup.client.poll", "client, while following a backup"},
    {"node.replica.apply", "replica applying a forwarded write"},
    {"node.forward", "coordinator forwarding a write to the replicas"},
    {"node.reply", "node returning a status"},
    {"node.heartbeat", "node stamping its heartbeat"},
    {"restore.entry.forward", "entry node forwarding a restore write"},
    {"restore.replica.apply", "replica applying a restore write"},
    {"restore.status.return", "entry node returning the restore status to the client"},
    {"restore.client.checkpoint", "client writing its restore checkpoint"},
    {"restore.client.send", "client sending a restore batch"},
    {"launcher.spawn", "launcher, forking a cluster process"},
};

enum class Action { kCrash, kHang, kError, kDelay };

struct Point {
  std::string name;
  Action action;
  int delay_ms = 0;
  bool every_time = false;
  std::atomic<bool> fired{false};
};

std::atomic<bool> g_armed{false};
std::vector<std::unique_ptr<Point>>* g_points = nullptr;

bool known(std::string_view name) {
  for (const auto& k : kKnown)
    if (name == k.name) return true;
  return false;
}

Status parse_entry(const std::string& entry, const std::string& me, std::vector<std::unique_ptr<Point>>* out) {
  const auto eq = entry.find('=');
  if (eq == std::string::npos || eq == 0)
    return Status::invalid("CACHEVAULT_FAILPOINTS entry '" + entry + "' is not name[@proc]=action");
  std::string name = entry.substr(0, eq), action = entry.substr(eq + 1), proc;
  if (auto at = name.find('@'); at != std::string::npos) {
    proc = name.substr(at + 1);
    name = name.substr(0, at);
  }
  if (!known(name))
    return Status::invalid("CACHEVAULT_FAILPOINTS names unknown failpoint '" + name +
                           "' ('cachevault failpoints' lists the known ones)");
  auto p = std::make_unique<Point>();
  p->name = name;
  if (!action.empty() && action.back() == '*') {
    p->every_time = true;
    action.pop_back();
  }
  if (action == "crash") {
    p->action = Action::kCrash;
  } else if (action == "hang") {
    p->action = Action::kHang;
  } else if (action == "error") {
    p->action = Action::kError;
  } else if (action.rfind("delay(", 0) == 0 && action.size() > 7 && action.back() == ')') {
    p->action = Action::kDelay;
    try {
      p->delay_ms = std::stoi(action.substr(6, action.size() - 7));
    } catch (...) {
      p->delay_ms = -1;
    }
    if (p->delay_ms < 0) return Status::invalid("CACHEVAULT_FAILPOINTS entry '" + entry + "' has a bad delay");
  } else {
    return Status::invalid("CACHEVAULT_FAILPOINTS entry '" + entry +
                           "' has unknown action (use crash, hang, error or delay(MS), optionally ending in *)");
  }
  if (proc.empty() || proc == me) out->push_back(std::move(p));
  return Status::ok();
}

}  // namespace

Status init_failpoints(const std::string& process_name, const std::string& spec) {
  auto points = std::make_unique<std::vector<std::unique_ptr<Point>>>();
  size_t start = 0;
  while (start <= spec.size() && !spec.empty()) {
    size_t comma = spec.find(',', start);
    // A comma inside delay(...) cannot occur (MS is a number), so split plainly.
    std::string entry = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!entry.empty())
      if (Status s = parse_entry(entry, process_name, points.get()); !s) return s;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  g_armed.store(false);
  delete g_points;  // init runs at start-up, before any thread checks a failpoint
  g_points = points.release();
  g_armed.store(!g_points->empty(), std::memory_order_release);
  return Status::ok();
}

Status init_failpoints(const std::string& process_name) {
  const char* spec = std::getenv("CACHEVAULT_FAILPOINTS");
  return init_failpoints(process_name, spec ? spec : "");
}

bool failpoint(std::string_view name) {
  if (!g_armed.load(std::memory_order_acquire)) return false;
  for (auto& p : *g_points) {
    if (p->name != name) continue;
    if (!p->every_time && p->fired.exchange(true)) continue;
    switch (p->action) {
      case Action::kCrash: _exit(86);
      case Action::kHang:
        for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
      case Action::kError: return true;
      case Action::kDelay: std::this_thread::sleep_for(std::chrono::milliseconds(p->delay_ms)); return false;
    }
  }
  return false;
}

std::span<const FailpointInfo> known_failpoints() { return kKnown; }

}  // namespace cv
