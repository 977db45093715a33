// The layout of the public storage block: one named POSIX shared-memory
// segment per cluster holding configuration, node registry, distribution
// table, backup schedules and the request mailboxes. Every constant of the
// block is declared here. All fields are fixed-width; nothing is allocated at
// run time; sizes are pinned with static_assert.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shm/limits.h"
#include "shm/robust_mutex.h"

namespace cv::shm {

inline constexpr uint64_t kBlockMagic = 0x314b434f4c425643ull;  // "CVBLOCK1"
inline constexpr uint32_t kBlockVersion = 4;

inline constexpr int kMaxServingNodes = 32;
inline constexpr int kMaxTargets = 8;
inline constexpr int kMaxClients = 32;
inline constexpr int kMaxPartitions = 4096;
inline constexpr int kMaxReplicas = 8;
inline constexpr int kMaxSchedules = 8;
inline constexpr int kMaxFailovers = 8;
inline constexpr size_t kPathBytes = 512;
inline constexpr size_t kNameBytes = 64;
inline constexpr size_t kErrorBytes = 256;

// Mailboxes: serving nodes first, then targets, then client slots, then one
// per serving node's Redis front end (the in-process client that carries
// its connections' commands to the node's request loop).
inline constexpr int kMailboxCount = kMaxServingNodes + kMaxTargets + kMaxClients + kMaxServingNodes;
inline constexpr int kFirstTargetMailbox = kMaxServingNodes;
inline constexpr int kFirstClientMailbox = kMaxServingNodes + kMaxTargets;
inline constexpr int kFirstFrontendMailbox = kMaxServingNodes + kMaxTargets + kMaxClients;
inline constexpr size_t kPasswordBytes = 128;
// Each mailbox ring holds this many bytes of messages. A single message may
// take at most a quarter; a larger one (values of several MiB) travels in a
// spill file named by a small ring message (shm/spill.h).
inline constexpr uint64_t kMailboxRingBytes = 8ull << 20;
inline constexpr uint64_t kMaxMessageBytes = kMailboxRingBytes / 4;

// Periods and timeouts the processes agree on are in shm/limits.h.

enum class Role : uint32_t { kNone = 0, kServing = 1, kTarget = 2 };

enum class NodeState : uint32_t {
  kEmpty = 0,     // slot unused
  kStarting = 1,  // forked, not ready yet
  kUp = 2,
  kDown = 3,      // died (marked by the launcher) or stopped
  kJoining = 4,   // started or added: receives partitions' data, serves none yet
  kLeaving = 5,   // being removed: still serves while its partitions move away
  kFenced = 6,    // alive but kept out (it kept failing writes): serves nothing
};

// A serving process that takes part in the protocol: it answers requests
// and receives forwarded writes. Fenced, down and starting nodes do not.
inline bool node_state_live(NodeState s) {
  return s == NodeState::kUp || s == NodeState::kJoining || s == NodeState::kLeaving;
}

struct BlockHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t reserved0;
  uint64_t total_bytes;
  int32_t launcher_pid;
  // kTestClockOn when the cluster was started with CACHEVAULT_TEST_CLOCK=1:
  // every process then adds test_clock_offset_ms to its monotonic clock
  // (shm/clock.h). Zero in production.
  uint32_t test_clock_flags;
  uint64_t start_time_ns;
  // Written last by the creator: a block with init_done == 0 is not ready.
  std::atomic<uint32_t> init_done;
  std::atomic<uint32_t> shutting_down;
  // Bumped on every change of registry state, table or schedules; a futex
  // word, so watchers sleep on it instead of polling.
  std::atomic<uint32_t> change_seq;
  // Milliseconds a test moved the cluster's monotonic clock forward; only
  // read when test_clock_flags says so. Only ever grows.
  std::atomic<uint32_t> test_clock_offset_ms;
};
inline constexpr uint32_t kTestClockOn = 1;

struct ClusterConfig {
  char name[kNameBytes];
  char data_dir[kPathBytes];
  uint32_t serving_nodes;
  uint32_t targets;
  uint32_t replicas;
  uint32_t partitions;
  double weights[kMaxServingNodes];
  uint64_t target_quota[kMaxTargets];  // 0 = unlimited
  uint64_t node_memory;                // 0 = unlimited
  // Redis front ends: node i listens on redis_port_base + i (0: a free
  // port each), and asks for requirepass first if it is not empty.
  uint32_t redis_port_base;
  uint32_t reserved_redis;
  char requirepass[kPasswordBytes];
};

// One registry slot per process the launcher forked. Index: serving nodes
// 0..kMaxServingNodes-1, targets kMaxServingNodes + t.
struct NodeSlot {
  std::atomic<int32_t> pid;
  std::atomic<uint32_t> role;   // Role
  std::atomic<uint32_t> state;  // NodeState
  std::atomic<int32_t> exit_status;
  std::atomic<uint64_t> heartbeat_ns;  // CLOCK_MONOTONIC
  std::atomic<uint64_t> records;       // records held (replicas included)
  std::atomic<uint64_t> bytes;         // key + value bytes held
  std::atomic<uint64_t> requests_total;
  std::atomic<uint64_t> requests_per_s;
  std::atomic<uint64_t> used_bytes;    // targets: bytes stored against quota
  // Serving nodes: the table epoch the request loop works with. Everything
  // it forwarded under an older epoch is already in its peers' mailboxes,
  // so once every live node shows epoch E, writes reach E's holders.
  std::atomic<uint64_t> adopted_epoch;
  // Bumped by a primary each time this node, as a replica, failed to apply
  // a forwarded write: a node that keeps failing is fenced.
  std::atomic<uint32_t> replica_failures;
  // Set by the process once its loop runs (the launcher's readiness test:
  // the state may say joining rather than up).
  std::atomic<uint32_t> ready;
  // Mean time the request loop spent per handled record since the node
  // started, ns: its measured speed, for `rebalance --by measured`.
  std::atomic<uint64_t> service_ns_per_record;
  // Serving nodes: the TCP port of the Redis front end, published before
  // the node is up (its Unix socket is <data_dir>/node<id>.sock).
  std::atomic<uint32_t> redis_port;
  uint32_t reserved32;
  // The process's start time (field 22 of /proc/PID/stat), recorded with
  // the pid: a pid is only killed while it still names this process.
  std::atomic<uint64_t> start_ticks;
};

// Marks an unused rank of owners[p] and "no joining holder".
inline constexpr uint16_t kNoNode = 0xFFFF;

// The data distribution table, guarded by a seqlock so readers never take the
// block lock: `seq` is odd while a writer changes `owners`.
//
// owners[p] lists the nodes that hold partition p and serve it, primary
// first, then kNoNode: fewer than `replicas` live entries means the
// partition is under-replicated, none means it is lost (lost[p] is then 1
// and its keys fail with an error saying so). joining[p] is a node that is
// receiving p's data in a move: primaries forward p's writes to it too, but
// it serves nothing of p until a later epoch lists it in owners[p].
//
// A writer killed mid-update would leave `seq` odd and `owners` half
// written. So a writer first stages the whole new table in `staged_*` and
// sets `staged_valid`, and only then copies it over the live one. The next
// holder of the block lock that finds `seq` odd republishes the staged
// table and makes `seq` even (shm/table_access.h repair_table_locked).
struct DistributionShm {
  std::atomic<uint64_t> epoch;
  std::atomic<uint32_t> seq;
  uint32_t replicas;
  uint32_t partitions;
  uint32_t reserved;
  uint16_t owners[kMaxPartitions][kMaxReplicas];
  uint16_t joining[kMaxPartitions];
  uint8_t lost[kMaxPartitions];
  std::atomic<uint32_t> staged_valid;  // 1 once staged_* hold a complete table
  uint32_t staged_replicas;
  uint32_t staged_partitions;
  uint32_t reserved2;
  uint64_t staged_epoch;
  uint16_t staged_owners[kMaxPartitions][kMaxReplicas];
  uint16_t staged_joining[kMaxPartitions];
  uint8_t staged_lost[kMaxPartitions];
};

// Membership requests (`node start|add|remove`, `rebalance`): a command
// files one here and the launcher, which runs every move, carries it out.
enum class MemberOp : uint32_t { kNone = 0, kStart = 1, kAdd = 2, kRemove = 3, kRebalance = 4 };
enum class MemberRequestState : uint32_t { kFree = 0, kPending = 1, kRunning = 2, kDone = 3, kFailed = 4 };
inline constexpr uint32_t kRebalanceMeasured = 1;   // flags: weights from measured speed
inline constexpr uint32_t kRebalanceAcceptLoss = 2; // flags: lost partitions start again empty

// The weights the table follows: the configured ones (ClusterConfig), or
// after `rebalance --by measured` the measured ones.
struct WeightsInUse {
  std::atomic<uint32_t> measured;  // 1: w holds measured weights
  uint32_t reserved;
  double w[kMaxServingNodes];
};

struct MembershipRequest {
  std::atomic<uint64_t> id;         // bumped for every request filed
  std::atomic<uint32_t> state;      // MemberRequestState
  uint32_t op;                      // MemberOp
  int32_t node;                     // start/remove: the node; add: the id given
  uint32_t flags;
  double weight;                    // add: the new node's weight (0: default 1)
  int32_t requester_pid;
  int32_t result_pid;               // start/add: the node's pid
  uint64_t moved_partitions;
  uint64_t moved_records;
  uint64_t records_received;        // start/add: records copied onto the node
  uint64_t elapsed_ns;
  char error[kErrorBytes];
  // start/add: CACHEVAULT_FAILPOINTS for the new process, as the command
  // that asked had it (the cluster's own failpoints are not passed on).
  char failpoints[kErrorBytes];
};

enum class ScheduleState : uint32_t {
  kFree = 0,
  kCreated = 1,
  kEnable = 2,
  kCopyCompleted = 3,
  kConsolidationCompleted = 4,
  kFailed = 5,
};

enum class EntryState : uint32_t {
  kNone = 0,  // node not part of this schedule
  kPending = 1,
  kSnapshotting = 2,
  kSending = 3,
  kSent = 4,
  kFailed = 5,
};

struct ScheduleEntry {
  std::atomic<uint32_t> state;  // EntryState
  uint32_t sent_to_target;      // target index the copy went to
  uint32_t send_round;          // failover round the copy belongs to
  uint32_t reserved;
  uint64_t records;
  uint64_t bytes;
  uint64_t snapshot_ns;         // duration of the hot backup
  uint64_t transfer_ns;         // duration of the send
  // CLOCK_MONOTONIC of the node's last sign of work on its copy: set when
  // the schedule is enabled or fails over, stamped as the node copies,
  // sorts, writes and sends. The target gives up on a copy whose stamp goes
  // stale (kEntryStallMs), so a node stuck mid-backup cannot hold it.
  std::atomic<uint64_t> progress_ns;
};

struct ScheduleSlot {
  uint64_t id;                       // 0 = free slot
  std::atomic<uint32_t> state;       // ScheduleState
  uint32_t target;                   // target index now assigned
  uint32_t round;                    // bumped on every failover
  uint32_t failovers;
  uint32_t failover_from[kMaxFailovers];
  uint32_t failover_reason[kMaxFailovers];  // Code of the failure
  uint32_t full_targets_mask;        // targets found full for this schedule
  uint32_t requester_node;
  uint32_t nodes;                    // serving nodes when created
  uint32_t replicas;
  uint32_t partitions;
  uint32_t flags;                    // kScheduleAllowPartial
  uint64_t table_epoch;
  uint64_t created_ns;               // wall clock
  uint64_t started_mono_ns;
  uint64_t copy_completed_mono_ns;
  uint64_t completed_mono_ns;
  uint64_t consolidate_ns;
  uint64_t records;                  // records in the consolidated file
  uint64_t bytes;                    // its size
  char out_dir[kPathBytes];
  char file[kPathBytes];
  char error[kErrorBytes];
  ScheduleEntry entries[kMaxServingNodes];
  uint16_t owners[kMaxPartitions][kMaxReplicas];  // the table the schedule was made from
  // Partitions a partial backup lacks (every replica lost), one bit each:
  // the consolidated file lists them.
  uint8_t missing[kMaxPartitions / 8];
};

// The backup may leave out lost partitions (`backup --allow-partial`).
inline constexpr uint32_t kScheduleAllowPartial = 1;

struct ClientSlot {
  std::atomic<int32_t> pid;  // 0 = free
  std::atomic<uint32_t> generation;
  uint64_t claimed_ns;
};

// The head of one MPSC mailbox ring. Producers serialise on producer_lock
// (robust) and publish by advancing `tail`; the single consumer advances
// `head`. Both counters grow without bound; the ring offset is counter % size.
struct alignas(64) MailboxHeader {
  RobustMutex producer_lock;
  alignas(64) std::atomic<uint64_t> tail;
  std::atomic<uint32_t> publish_seq;  // futex word, bumped after every publish
  std::atomic<uint32_t> consumer_sleeping;
  alignas(64) std::atomic<uint64_t> head;
  std::atomic<uint32_t> consume_seq;  // futex word, bumped after consuming
  std::atomic<uint32_t> producers_sleeping;
  std::atomic<int32_t> consumer_pid;
  std::atomic<uint32_t> generation;   // bumped when a client slot changes hands
};

struct BlockLayout {
  BlockHeader header;
  RobustMutex lock;  // guards registry transitions, schedules, table writes, client slots
  ClusterConfig config;
  NodeSlot nodes[kMaxServingNodes + kMaxTargets];
  DistributionShm table;
  MembershipRequest membership;
  WeightsInUse weights;
  std::atomic<uint64_t> next_schedule_id;
  ScheduleSlot schedules[kMaxSchedules];
  ClientSlot clients[kMaxClients];
  MailboxHeader mailboxes[kMailboxCount];
};

// The rings follow the layout, each kMailboxRingBytes long.
inline constexpr uint64_t kRingsOffset = (sizeof(BlockLayout) + 4095) & ~uint64_t(4095);
inline constexpr uint64_t kBlockBytes = kRingsOffset + uint64_t(kMailboxCount) * kMailboxRingBytes;

static_assert(std::is_trivially_copyable_v<ClusterConfig>);
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint64_t>) == 8 && sizeof(std::atomic<uint32_t>) == 4);
static_assert(sizeof(BlockHeader) == 56);
static_assert(sizeof(NodeSlot) == 104);
static_assert(sizeof(ScheduleEntry) == 56);
static_assert(sizeof(MailboxHeader) % 64 == 0);
static_assert(kMaxMessageBytes > (1u << 20) + 4096, "a 1 MiB value fits one message, without a spill file");

}  // namespace cv::shm
