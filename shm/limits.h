// Periods, timeouts, limits and exit codes that every cachevault process
// must agree on: a launcher that fences nodes after a timeout, and the
// nodes that stamp their heartbeat well inside it, read the same numbers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cv::shm {

// How often live processes stamp their heartbeat, and how stale a heartbeat
// may get before a peer may treat the process as gone.
inline constexpr uint64_t kHeartbeatIntervalMs = 100;
// A serving node whose request loop shows no progress for this long is
// fenced off by the launcher: killed, marked down, its partitions moved.
inline constexpr uint64_t kNodeHeartbeatTimeoutMs = 5000;
// The same for a target, whose longest silent steps (verifying a large
// copy, removing spent copies) get more room.
inline constexpr uint64_t kTargetHeartbeatTimeoutMs = 10000;
// A request loop stamps its heartbeat at least this often while it drains
// a long run of messages, so the heartbeat says "making progress", not "the
// loop came round". Far inside kNodeHeartbeatTimeoutMs.
inline constexpr uint64_t kDrainHeartbeatMs = 10;

// Default bound on any lock of the block.
inline constexpr uint64_t kLockTimeoutMs = 2000;
// How long a reader of the distribution table waits for a writer to finish
// (a table update is a 64 KiB copy) before it repairs a dead writer's
// update or gives up and keeps the copy it has.
inline constexpr uint64_t kTableReadTimeoutMs = 500;

// How long a node may show no progress on its copy before the target
// leaves the copy out (the other replicas then have to cover it).
inline constexpr uint64_t kEntryStallMs = 10000;

// Node to node: how long a coordinator waits for room in a replica's
// mailbox and for its answers, and a replica for room to answer.
inline constexpr uint64_t kReplicaTimeoutMs = 2000;
inline constexpr uint64_t kPeerReplySendTimeoutMs = 2000;
// Node to client: a reply waits at most this long for room in a client's
// mailbox, then is dropped (and logged). A client that reads too slowly
// times out and retries; versioned writes make the retry harmless. A
// request loop must never wait on a slow client.
inline constexpr uint64_t kClientReplySendTimeoutMs = 50;

// Launcher teardown: SIGTERM, this long to stop, then SIGKILL and at most
// kKillReapTimeoutMs to be reaped (a child in uninterruptible sleep may
// take longer; it is reported and left).
inline constexpr uint64_t kStopGraceMs = 5000;
inline constexpr uint64_t kKillReapTimeoutMs = 2000;
// A node that stops waits this long for its backup thread (idle priority,
// raised to normal for the wait) before it leaves without it.
inline constexpr uint64_t kWorkerStopTimeoutMs = 2000;

// The largest value a record may hold, on every path: the Redis protocol,
// the CLI, the messages between processes (those over a ring's share travel
// in spill files, shm/spill.h) and the backup file format.
inline constexpr size_t kMaxValueBytes = size_t(16) << 20;

// Process exit codes (see ../shared/CLI.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCorrupt = 3;

}  // namespace cv::shm
