// MembershipController: the one writer of the distribution table while a
// cluster runs. It lives in the launcher, on a thread of its own, and keeps
// one rule: a node serves a partition only after it holds the partition's
// data. Every change of the table is a move:
//
//   1. join    the new holder is published as joining[p]; once every live
//              node has adopted that epoch, every write of p reaches it;
//   2. copy    a live holder streams p's records to it (newest version
//              wins there, so copy and live writes may arrive in any order);
//   3. switch  the table lists the new holder in owners[p] (and no longer
//              the old one, if it is leaving p);
//   4. drop    the old holder forgets p once no backup points at it.
//
// A process killed at any step leaves the old placement serving: until the
// switch, the new holder serves nothing of p, and a failed move only clears
// joining[p] (its partial copy is dropped). The controller also takes dead
// and fenced nodes out of the table at once (their partitions go on from
// the other replicas), marks a partition whose every replica is gone as
// lost, brings every partition back to R copies on its own, and carries out
// the membership requests (`node start|add|remove`, `rebalance`) that
// commands file in the block.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "node/distribution.h"
#include "shm/block.h"
#include "shm/client_slot.h"
#include "shm/messages.h"
#include "shm/peer_link.h"
#include "shm/table_access.h"

namespace cv::launcher {

class MembershipController {
 public:
  // Forks serving node `id` (its slot already set up) with these
  // CACHEVAULT_FAILPOINTS; returns its pid or -1.
  using SpawnFn = std::function<int(int id, const std::string& failpoints)>;
  // Stops serving node `id`'s process: SIGTERM, or SIGKILL if `kill`.
  using StopFn = std::function<void(int id, bool kill)>;

  MembershipController(shm::Block& block, SpawnFn spawn, StopFn stop);
  ~MembershipController();
  MembershipController(const MembershipController&) = delete;
  MembershipController& operator=(const MembershipController&) = delete;

  // Claims the launcher's mailbox and starts the thread.
  Status start();
  // Stops the thread (a move under way is left as the failed-move rule
  // leaves it: the old placement serves).
  void stop();

 private:
  struct Result {
    int node = -1;
    int pid = 0;
    uint64_t moved_partitions = 0;
    uint64_t moved_records = 0;
    uint64_t records_received = 0;  // onto `node`
  };
  struct Plan {
    uint32_t partition = 0;
    uint16_t add = shm::kNoNode;     // the joining holder
    uint16_t remove = shm::kNoNode;  // the holder it replaces, if any
    uint16_t source = shm::kNoNode;
    uint64_t move_id = 0;
    uint64_t request_id = 0;
    enum class State { kCopying, kDone, kFailed } state = State::kCopying;
    uint64_t records = 0;
  };
  struct PendingDrop {
    int node;
    uint32_t partition;
    uint64_t not_before_ns = 0;
    uint64_t request_id = 0;  // 0: not sent
    int attempts = 0;
  };

  void run();
  // Takes dead and fenced nodes out of owners and joining, marks partitions
  // without a holder lost. Returns true if it published a change.
  bool repair_table();
  // Fences a node that keeps failing forwarded writes.
  void fence_failing_replicas();
  bool needs_rereplication();
  void handle_request();

  Status op_start(int id, Result* r);
  Status op_add(double weight, Result* r);
  Status op_remove(int id, Result* r);
  Status op_rebalance(uint32_t flags, Result* r);

  // The table the cluster should have now: configured weights, live nodes
  // (not `excluded`, not leaving), as few moves from the current one as it can.
  Status desired_table(int excluded, node::DistributionInput* in, node::DistributionTable* want);
  // Moves data until the table is the desired one (or max_waves ran).
  Status converge(int excluded, Result* r, int max_waves = 12);
  // node start and node add: forks serving node `id` (joining), moves its
  // share onto it, then marks it up.
  Status start_and_fill(int id, Result* r);
  // One round of moves towards `want`: at most one new holder per partition.
  Status run_wave(const node::DistributionInput& in, const node::DistributionTable& want, Result* r);
  // Every live serving node works with epoch >= e (wakes them to look).
  Status barrier(uint64_t epoch);
  // Starts a serving node process into slot `id` as joining, waits until it runs.
  Status start_process(int id, const std::string& failpoints, int* pid);
  // The failpoints the command that filed the request runs with.
  std::string request_failpoints() const;
  Status wait_for_state(int id, shm::NodeState want, uint64_t timeout_ms);

  // Sends a move message; its request id goes to *request_id.
  Status send(int node, shm::MsgType type, const shm::MoveWire& m, uint64_t* request_id);
  // Handles every reply in the launcher's mailbox; waits up to wait_ns for one.
  void pump(uint64_t wait_ns);
  void send_drops();

  // Locked table update: f changes a fresh copy; published if it returns true.
  bool update_table(const std::function<bool(shm::TableCopy&)>& f, uint64_t* epoch = nullptr);
  void wake_nodes();
  bool live(int node) const;
  int live_count(int excluded = -1) const;

  shm::Block& block_;
  shm::BlockLayout& b_;
  SpawnFn spawn_;
  StopFn stop_node_;
  std::unique_ptr<shm::ClientSlotLease> lease_;
  std::unique_ptr<shm::PeerLink> link_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  uint64_t next_move_ = 1;
  uint64_t next_request_ = 1;
  std::vector<uint32_t> seen_failures_;
  std::vector<PendingDrop> drops_;
  std::unordered_map<uint64_t, shm::MoveReplyWire> replies_;  // by request id
  uint64_t last_rereplication_failure_ns_ = 0;
};

}  // namespace cv::launcher
