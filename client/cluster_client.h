// ClusterClient: a command's connection to a running cluster. It attaches to
// the block, claims a client mailbox, keeps a copy of the distribution
// table, and sends requests to nodes and collects their replies.
// Not thread-safe: one per command.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "shm/block.h"
#include "shm/client_slot.h"
#include "shm/messages.h"
#include "shm/peer_link.h"
#include "shm/table_access.h"

namespace cv::client {

class ClusterClient {
 public:
  static Status connect(const std::string& cluster, std::unique_ptr<ClusterClient>* out);

  shm::Block& block() { return *block_; }
  shm::BlockLayout& layout() { return block_->layout(); }
  const shm::TableCopy& table() { return table_; }
  // Re-reads the table if its epoch moved; true if it changed.
  bool refresh_table() { return shm::refresh_table(block_->layout(), &table_); }
  bool node_up(int node) const;
  // False once the cluster's launcher is gone (checked at most every 100 ms).
  bool cluster_alive();
  // The first live serving node at or after `preferred`, or -1.
  int live_node(int preferred = 0) const;

  // Sends a request; its id is returned through request_id. Ids are unique
  // for the lease: the slot's generation in the high half, a count below.
  Status send(int node, shm::MsgType type, std::string_view payload, uint64_t* request_id,
              uint64_t timeout_ms = 5000);
  // Hands every reply that arrived for this lease to fn; waits up to wait_ns
  // for the first. A reply meant for an earlier owner of the slot (another
  // generation) is dropped here.
  size_t poll(const std::function<void(const shm::MsgHeader&, std::string_view)>& fn, uint64_t wait_ns);
  // Sends one request and waits for its reply (other replies are dropped).
  // A dead node or no answer in time is an error naming the node.
  Status call(int node, shm::MsgType type, std::string_view payload, std::string* reply, uint64_t timeout_ms);

 private:
  ClusterClient() = default;
  std::unique_ptr<shm::Block> block_;
  std::unique_ptr<shm::ClientSlotLease> lease_;
  std::unique_ptr<shm::PeerLink> link_;
  shm::TableCopy table_;
  uint64_t next_request_ = 0;  // set from the lease's generation in connect()
  uint64_t alive_checked_ns_ = 0;
  bool alive_ = true;
};

}  // namespace cv::client
