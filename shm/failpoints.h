// Failpoints: named steps of the protocol where a test can make a process
// crash, hang, fail or pause, set through CACHEVAULT_FAILPOINTS as
// "name[@proc]=action[,...]" with action crash | hang | error | delay(MS),
// acting once per process unless the action ends in '*'.
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

// Call once at process start with this process's name ("node0", "target1",
// "client", "launcher"). A bad spec is an error naming the bad entry.
Status init_failpoints(const std::string& process_name);
Status init_failpoints(const std::string& process_name, const std::string& spec);

// At a named step: true if the step must fail as if the OS said no; crashes,
// hangs or delays here as configured.
bool failpoint(std::string_view name);

struct FailpointInfo {
  const char* name;
  const char* description;
};
std::span<const FailpointInfo> known_failpoints();

}  // namespace cv
