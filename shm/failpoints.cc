// Failpoints: parses CACHEVAULT_FAILPOINTS and acts at the named steps.
#include "shm/failpoints.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cassert>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <thread>

namespace cv {
namespace {

constexpr FailpointInfo kKnown[] = {
    {kFpScheduleCreated.data(), "serving node, after uploading a new backup schedule"},
    {kFpScheduleEnable.data(), "target, when setting a schedule to enable"},
    {kFpSnapshotStart.data(), "serving node, starting its hot backup"},
    {kFpSnapshotEnd.data(), "serving node, after writing its local copy"},
    {kFpSendStart.data(), "serving node, starting to send its copy to the target"},
    {kFpSendEnd.data(), "serving node, after its copy was sent"},
    {kFpTargetReceive.data(), "target, checking a received copy"},
    {kFpConsolidateStart.data(), "target, starting consolidation"},
    {kFpConsolidateEnd.data(), "target, after writing the consolidated file"},
    {kFpConsolidateRename.data(), "target, before renaming the consolidated file into place"},
    {kFpScheduleLock.data(), "any process, holding the block lock during a schedule update"},
    {kFpBackupClientPoll.data(), "client, while following a backup"},
    {kFpNodeReplicaApply.data(), "replica, applying a forwarded write"},
    {kFpNodeForward.data(), "coordinator, forwarding a write to the replicas"},
    {kFpNodeReply.data(), "serving node, returning a status"},
    {kFpNodeHeartbeat.data(), "serving node, stamping its heartbeat"},
    {kFpRestoreEntryForward.data(), "entry node, forwarding a restore write"},
    {kFpRestoreReplicaApply.data(), "replica, applying a restore write"},
    {kFpRestoreStatusReturn.data(), "entry node, returning the restore status to the client"},
    {kFpRestoreClientCheckpoint.data(), "client, writing its restore checkpoint"},
    {kFpRestoreClientSend.data(), "client, sending a restore batch"},
    {kFpLauncherSpawn.data(), "launcher, forking a cluster process"},
    {kFpMoveJoin.data(), "launcher, publishing a partition's new holder as joining (a move starts)"},
    {kFpMoveCopyStart.data(), "source serving node, starting to copy a partition to its new holder"},
    {kFpMoveCopyEnd.data(), "source serving node, after every record of the partition was acknowledged"},
    {kFpMoveReceive.data(), "new holder, applying a batch of a moving partition"},
    {kFpMoveTableSwitch.data(), "launcher, switching the table to the partition's new holders"},
    {kFpMoveDrop.data(), "old holder, dropping a partition that moved away"},
    {kFpTablePublish.data(), "any process, halfway through writing the distribution table"},
};
constexpr size_t kKnownCount = std::size(kKnown);

constexpr bool names_are_distinct() {
  for (size_t i = 0; i < kKnownCount; ++i)
    for (size_t j = i + 1; j < kKnownCount; ++j)
      if (std::string_view(kKnown[i].name) == kKnown[j].name) return false;
  return true;
}
static_assert(names_are_distinct(), "two failpoints share a name");

enum class Action : uint8_t { kOff, kCrash, kHang, kError, kDelay };

// One slot per known failpoint, fixed in size so that arming never
// allocates and nothing needs freeing when a crash _exits from any thread.
// Every field is atomic so that a re-init never races a check.
struct Slot {
  std::atomic<Action> action{Action::kOff};
  std::atomic<uint32_t> delay_ms{0};
  std::atomic<bool> every_time{false};
  std::atomic<bool> fired{false};
};
// Process-wide by nature, as the environment variable is.
std::array<Slot, kKnownCount> g_slots;
std::atomic<bool> g_armed{false};

int index_of(std::string_view name) {
  for (size_t i = 0; i < kKnownCount; ++i)
    if (name == kKnown[i].name) return static_cast<int>(i);
  return -1;
}

// What one entry of the spec asks for.
struct Entry {
  int index = -1;
  Action action = Action::kOff;
  uint32_t delay_ms = 0;
  bool every_time = false;
  std::string_view process;  // from @proc; empty: every process
};

bool is_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// The process names CLI.md defines; anything else is a typo that would
// silently never fire.
bool is_process_name(std::string_view p) {
  if (p == "client" || p == "launcher") return true;
  if (p.starts_with("node")) return is_digits(p.substr(4));
  if (p.starts_with("target")) return is_digits(p.substr(6));
  return false;
}

Status parse_entry(std::string_view entry, Entry* out) {
  auto bad = [&](const std::string& why) {
    return Status::invalid("CACHEVAULT_FAILPOINTS entry '" + std::string(entry) + "': " + why);
  };
  const size_t eq = entry.find('=');
  if (eq == std::string_view::npos) return bad("expected name[@proc]=action");
  std::string_view name = entry.substr(0, eq), action = entry.substr(eq + 1);
  if (size_t at = name.find('@'); at != std::string_view::npos) {
    std::string_view proc = name.substr(at + 1);
    if (!is_process_name(proc))
      return bad("'" + std::string(proc) +
                 "' is not a process (node<N>, target<N>, client, launcher)");
    name = name.substr(0, at);
    out->process = proc;
  }
  out->index = index_of(name);
  if (out->index < 0)
    return bad("unknown failpoint '" + std::string(name) +
               "'; `cachevault failpoints` lists the known ones");
  if (action.ends_with('*')) {
    out->every_time = true;
    action.remove_suffix(1);
  }
  if (action == "crash") {
    out->action = Action::kCrash;
  } else if (action == "hang") {
    out->action = Action::kHang;
  } else if (action == "error") {
    out->action = Action::kError;
  } else if (action.starts_with("delay(") && action.ends_with(')')) {
    std::string_view ms = action.substr(6, action.size() - 7);
    uint32_t value = 0;
    auto [end, ec] = std::from_chars(ms.data(), ms.data() + ms.size(), value);
    if (!is_digits(ms) || ec != std::errc() || end != ms.data() + ms.size() ||
        value > kMaxFailpointDelayMs)
      return bad("delay needs a whole number of milliseconds up to " +
                 std::to_string(kMaxFailpointDelayMs));
    out->action = Action::kDelay;
    out->delay_ms = value;
  } else {
    return bad("unknown action '" + std::string(action) +
               "' (crash, hang, error or delay(MS), each optionally followed by *)");
  }
  return Status::ok();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Best effort, into the process log when one is set up. spdlog's default
// logger has an empty name and writes to stdout, where it would corrupt a
// command's output, so it is left alone.
void announce(std::string_view name, const char* what) {
  try {
    spdlog::logger* log = spdlog::default_logger_raw();
    if (log == nullptr || log->name().empty()) return;
    log->warn("failpoint {}: {}", name, what);
    log->flush();
  } catch (...) {
    // Logging must never stop the failpoint from acting.
  }
}

}  // namespace

Status init_failpoints(const std::string& process_name, const std::string& spec) {
  // Parse everything before touching the slots: a bad spec changes nothing.
  std::array<Entry, kKnownCount> chosen{};
  std::string_view rest = spec;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    std::string_view text = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (text.empty()) continue;  // "a=crash," is harmless
    Entry e;
    if (Status s = parse_entry(text, &e); !s) return s;
    if (!e.process.empty() && e.process != process_name) continue;
    // An entry naming this process beats a general one; otherwise the later wins.
    Entry& slot = chosen[e.index];
    if (slot.action == Action::kOff || !e.process.empty() || slot.process.empty()) slot = e;
  }
  bool any = false;
  g_armed.store(false, std::memory_order_relaxed);
  for (size_t i = 0; i < kKnownCount; ++i) {
    g_slots[i].action.store(Action::kOff, std::memory_order_relaxed);
    g_slots[i].delay_ms.store(chosen[i].delay_ms, std::memory_order_relaxed);
    g_slots[i].every_time.store(chosen[i].every_time, std::memory_order_relaxed);
    g_slots[i].fired.store(false, std::memory_order_relaxed);
    g_slots[i].action.store(chosen[i].action, std::memory_order_release);
    any = any || chosen[i].action != Action::kOff;
  }
  g_armed.store(any, std::memory_order_release);
  return Status::ok();
}

Status init_failpoints(const std::string& process_name) {
  const char* spec = std::getenv("CACHEVAULT_FAILPOINTS");
  return init_failpoints(process_name, spec != nullptr ? spec : "");
}

bool failpoint(std::string_view name) {
  if (!g_armed.load(std::memory_order_relaxed)) return false;
  const int i = index_of(name);
  assert(i >= 0 && "failpoint() called with a name missing from kKnown");
  if (i < 0) return false;
  Slot& slot = g_slots[i];
  const Action action = slot.action.load(std::memory_order_acquire);
  if (action == Action::kOff) return false;
  // exchange makes "once" hold across threads: exactly one caller is first.
  const bool first = !slot.fired.exchange(true, std::memory_order_relaxed);
  if (!first && !slot.every_time.load(std::memory_order_relaxed)) return false;
  switch (action) {
    case Action::kOff:
      return false;
    case Action::kCrash:
      announce(name, "crash");
      _exit(kFailpointCrashExitCode);  // no atexit handlers, no destructors
    case Action::kHang:
      announce(name, "hang");
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    case Action::kError:
      if (first) announce(name, "error");
      return true;
    case Action::kDelay:
      // Said before the pause, so that a test can see the step was reached.
      if (first) announce(name, "delay");
      std::this_thread::sleep_for(
          std::chrono::milliseconds(slot.delay_ms.load(std::memory_order_relaxed)));
      return false;
  }
  return false;
}

std::span<const FailpointInfo> known_failpoints() { return kKnown; }

}  // namespace cv
