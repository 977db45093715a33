// Failpoints: named steps of the protocol where a test can make a process
// crash, hang, fail or pause, configured through the environment as
// CACHEVAULT_FAILPOINTS="name[@proc]=action[,...]" (see docs and CLI.md).
//
// action is crash (_exit(kFailpointCrashExitCode) at once), hang (sleep
// forever), error (the step fails as if the OS said no) or delay(MS) (pause,
// then go on). Without @proc an entry acts in every process that reaches the
// step; with it only in the named one (node0, target1, client, launcher, ...).
// An entry acts once per process unless its action ends in '*'. When two
// entries name the same failpoint, one naming this process beats one without
// @proc, and otherwise the later wins.
//
// Thread safety: failpoint() may be called from any thread at any time and
// costs one relaxed atomic load when nothing is armed. init_failpoints() is
// meant for process start; calling it again (tests do) is safe but a
// concurrent failpoint() may see either configuration. Errors are values.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "shm/status.h"

namespace cv {

// Backup.
inline constexpr std::string_view kFpScheduleCreated = "schedule.created";
inline constexpr std::string_view kFpScheduleEnable = "schedule.enable";
inline constexpr std::string_view kFpSnapshotStart = "snapshot.start";
inline constexpr std::string_view kFpSnapshotEnd = "snapshot.end";
inline constexpr std::string_view kFpSendStart = "send.start";
inline constexpr std::string_view kFpSendEnd = "send.end";
inline constexpr std::string_view kFpTargetReceive = "target.receive";
inline constexpr std::string_view kFpConsolidateStart = "consolidate.start";
inline constexpr std::string_view kFpConsolidateEnd = "consolidate.end";
inline constexpr std::string_view kFpConsolidateRename = "consolidate.rename";
inline constexpr std::string_view kFpScheduleLock = "schedule.lock";
inline constexpr std::string_view kFpBackupClientPoll = "backup.client.poll";
// Data path.
inline constexpr std::string_view kFpNodeReplicaApply = "node.replica.apply";
inline constexpr std::string_view kFpNodeForward = "node.forward";
inline constexpr std::string_view kFpNodeReply = "node.reply";
inline constexpr std::string_view kFpNodeHeartbeat = "node.heartbeat";
// Restore.
inline constexpr std::string_view kFpRestoreEntryForward = "restore.entry.forward";
inline constexpr std::string_view kFpRestoreReplicaApply = "restore.replica.apply";
inline constexpr std::string_view kFpRestoreStatusReturn = "restore.status.return";
inline constexpr std::string_view kFpRestoreClientCheckpoint = "restore.client.checkpoint";
inline constexpr std::string_view kFpRestoreClientSend = "restore.client.send";
// Launcher.
inline constexpr std::string_view kFpLauncherSpawn = "launcher.spawn";
// Partition moves (membership changes and re-replication).
inline constexpr std::string_view kFpMoveJoin = "move.join";
inline constexpr std::string_view kFpMoveCopyStart = "move.copy.start";
inline constexpr std::string_view kFpMoveCopyEnd = "move.copy.end";
inline constexpr std::string_view kFpMoveReceive = "move.receive";
inline constexpr std::string_view kFpMoveTableSwitch = "move.table.switch";
inline constexpr std::string_view kFpMoveDrop = "move.drop";
// Block: halfway through writing the distribution table, seq odd.
inline constexpr std::string_view kFpTablePublish = "table.publish";

// The exit status of a process stopped by a crash failpoint, so that a
// supervisor or test can tell an injected crash from a real one.
inline constexpr int kFailpointCrashExitCode = 86;
// The longest delay(MS) accepted: one hour.
inline constexpr unsigned kMaxFailpointDelayMs = 3'600'000;

// Call once at process start with this process's name ("node0", "target1",
// "client", "launcher"): reads getenv("CACHEVAULT_FAILPOINTS"); unset or
// empty arms nothing. A bad spec is an invalid-argument Status naming the
// bad entry, and leaves the previous configuration in force.
Status init_failpoints(const std::string& process_name);
// The same with the spec given directly (tests).
Status init_failpoints(const std::string& process_name, const std::string& spec);

// At a named step: returns true if the step must fail as if the OS said no;
// crashes, hangs or delays here as configured; otherwise returns false.
// REQUIRES: name is one of the kFp* constants above.
bool failpoint(std::string_view name);

// Every failpoint the code knows, with where it sits, for
// `cachevault failpoints`.
struct FailpointInfo {
  const char* name;
  const char* description;
};
std::span<const FailpointInfo> known_failpoints();

}  // namespace cv
