// ServingNode: one serving node's request loop. It drains the node's mailbox,
// stores records, coordinates writes (assigns versions as primary, forwards
// to the replicas of the distribution table, answers once they answered),
// serves get/scan, stamps its heartbeat and load figures, and runs the node's
// side of the backup protocol. Single-threaded except for the backup worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "node/distribution.h"
#include "node/partition_mover.h"
#include "node/record_store.h"
#include "node/write_ops.h"
#include "shm/block.h"
#include "shm/mailbox.h"
#include "shm/messages.h"
#include "shm/peer_link.h"
#include "shm/table_access.h"

namespace cv::node {

class BackupWorker;

class ServingNode {
 public:
  ServingNode(shm::Block& block, int id);
  ~ServingNode();
  // Serves until `stop` is set or the cluster shuts down. Returns an exit code.
  int run(const std::atomic<bool>& stop);

  RecordStore& store() { return store_; }
  int id() const { return id_; }

 private:
  // A client write batch waiting for replica answers.
  struct PendingWrite {
    uint16_t client = 0;
    uint32_t client_generation = 0;
    uint64_t client_request = 0;
    shm::WriteMode mode = shm::WriteMode::kAssign;
    shm::Policy policy = shm::Policy::kNewer;
    bool want_values = false;           // answer with kWriteValuesReply
    std::vector<ValueReply> values;     // want_values: one per request record
    std::vector<shm::WireResult> results;
    std::string payload;                 // kAssign only: the batch, for version retries
    std::vector<uint32_t> record_offset; // kAssign only: where record i starts in payload
    std::vector<uint8_t> retries;
    struct Awaiting {
      int peer;
      bool done;
      std::vector<uint32_t> indices;
    };
    std::vector<Awaiting> awaiting;
    int outstanding = 0;
    uint64_t deadline_ns = 0;
  };

  // Applies a slice of the partition records other nodes moved here.
  // A slice of the background sweep of expired records, every few ms.
  void sweep_expired();
  void apply_moved_records();
  void handle(const shm::MsgHeader& h, std::string_view payload);
  void on_write(const shm::MsgHeader& h, std::string_view payload);
  void on_replicate(const shm::MsgHeader& h, std::string_view payload);
  void on_replicate_reply(const shm::MsgHeader& h, std::string_view payload);
  void on_get(const shm::MsgHeader& h, std::string_view payload);
  void on_scan(const shm::MsgHeader& h, std::string_view payload);
  void on_backup_request(const shm::MsgHeader& h, std::string_view payload);

  // Empties the per-peer forwarding batches for a new round.
  void reset_forwarding(shm::Policy policy, uint64_t restore_tag, uint64_t expected_records = 0);
  // Sends one kReplicate per peer from `builders`; records awaiting answers.
  void forward(uint64_t op_id, PendingWrite& op, std::vector<shm::BatchBuilder>& builders,
               std::vector<std::vector<uint32_t>>& indices);
  void retry_stale(uint64_t op_id, PendingWrite& op, uint32_t index, uint64_t seen_version);
  void finish_if_done(uint64_t op_id);
  void reply_write(PendingWrite& op);
  void tick();
  void expire_pending();
  // Takes the block's current table and says so in the node's slot: from
  // here on, everything this node forwards follows that epoch.
  void adopt_table();
  // Publishes the node's record counts, so that `status` asked after an
  // acknowledgement counts the write.
  void stamp_counts();
  // The nodes a write of partition p goes to besides this one: the other
  // holders and a joining holder receiving p in a move.
  template <typename Fn>
  void for_each_peer(uint32_t p, Fn&& fn) const {
    const uint32_t n = table_.holders(p);
    for (uint32_t k = 0; k < n; ++k)
      if (table_.owners[p][k] != id_) fn(int(table_.owners[p][k]));
    const uint16_t j = table_.joining.empty() ? shm::kNoNode : table_.joining[p];
    if (j != shm::kNoNode && j != id_ && !table_.holds(p, j)) fn(int(j));
  }
  // Once per restore: sizes the tables of the partitions this node holds
  // for their share of the restore's records.
  void presize_for_restore(uint64_t restore_tag, uint64_t expected_records);
  bool node_up(int node) const;
  // Fills batch_keys_ with the key and partition of every record of the
  // batch and starts loading the store's slots for the first few.
  void index_batch(std::string_view payload, uint32_t partitions);
  // Called before applying record i of the indexed batch: starts loading
  // the slots of record i + kPrefetchAhead, so that lookups wait for memory
  // together instead of one after another. Far enough ahead to cover a
  // memory access, near enough that the lines are still in cache when
  // used (a whole batch ahead, they were not).
  static constexpr uint32_t kPrefetchAhead = 16;
  void prefetch_ahead(uint32_t i) const {
    if (i + kPrefetchAhead < batch_keys_.size()) {
      const auto& k = batch_keys_[i + kPrefetchAhead];
      if (!k.key.empty()) store_.prefetch(k.partition, k.key);
    }
  }
  // The partition of record i, from the index or computed.
  uint32_t partition_at(uint32_t i, std::string_view key, uint32_t partitions) const {
    return i < batch_keys_.size() ? batch_keys_[i].partition : partition_of(key, partitions);
  }

  shm::Block& block_;
  shm::BlockLayout& b_;
  const int id_;
  RecordStore store_;
  shm::PeerLink link_;
  shm::Mailbox inbox_;
  shm::TableCopy table_;
  PartitionMover mover_;
  std::unordered_map<uint64_t, PendingWrite> pending_;
  uint64_t next_op_ = 1;
  uint64_t presized_restore_tag_ = 0;
  uint64_t last_sweep_ns_ = 0;
  // Per partition: until when (monotonic ns) expired records stay put,
  // because a scan paged into the partition counts its records to resume.
  std::vector<uint64_t> scan_hold_until_ns_;
  bool scan_holds(uint32_t p, uint64_t now_ns) const {
    return p < scan_hold_until_ns_.size() && now_ns < scan_hold_until_ns_[p];
  }
  uint64_t last_tick_ns_ = 0;
  uint32_t seen_change_ = 0;  // the block's change counter at the last look
  uint64_t last_rate_ns_ = 0;
  uint64_t last_rate_requests_ = 0;
  uint64_t requests_ = 0;
  uint64_t busy_ns_ = 0;  // time spent handling messages that carried records
  std::unique_ptr<BackupWorker> backup_;
  std::vector<shm::BatchBuilder> fwd_;          // per peer: records to forward
  std::vector<std::vector<uint32_t>> fwd_idx_;  // per peer: their batch positions
  struct BatchKey {
    std::string_view key;  // into the batch being applied
    uint32_t partition;
  };
  std::vector<BatchKey> batch_keys_;  // every record of the batch being applied
};

// Entry point of a forked serving-node process.
int run_serving_node(const std::string& cluster, int id);

}  // namespace cv::node
