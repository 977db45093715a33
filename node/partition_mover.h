// PartitionMover: a serving node's part in partition moves, which the
// launcher runs (launcher/move_controller.h). As the source holder it
// streams a partition's records to the new holder in batches between
// requests, while writes go on (primaries forward the partition's writes to
// the new holder too, so nothing written during the copy is missed); as the
// new holder it applies those batches, newest version winning; as an old
// holder it drops a partition that moved away once the table no longer
// lists it. Runs on the request loop's thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "node/record_blob.h"
#include "node/record_store.h"
#include "shm/block.h"
#include "shm/mailbox.h"
#include "shm/peer_link.h"
#include "shm/table_access.h"

namespace cv::node {

class PartitionMover {
 public:
  PartitionMover(shm::Block& block, int id, RecordStore& store, shm::PeerLink& link)
      : b_(block.layout()), id_(id), store_(store), link_(link) {}

  // kMoveCopy from the launcher: start streaming a partition to its new holder.
  void on_copy(const shm::MsgHeader& h, std::string_view payload, const shm::TableCopy& table);
  // kMoveData from a source: apply the records, answer one result each.
  // Returns the records handled (for the node's request count).
  uint32_t on_data(const shm::MsgHeader& h, std::string_view payload);
  // kMoveDataReply from the new holder.
  void on_data_reply(const shm::MsgHeader& h, std::string_view payload);
  // kMoveDrop from the launcher: forget a partition this node no longer holds.
  void on_drop(const shm::MsgHeader& h, std::string_view payload, const shm::TableCopy& table);
  // Sends the next batches of the copies under way; fails those whose new
  // holder died or stopped answering. Cheap when nothing moves.
  void step();
  bool copying() const { return !out_.empty(); }

 private:
  struct Outgoing {
    uint64_t move_id = 0;
    uint32_t partition = 0;
    int dest = 0;
    int reply_to = 0;          // the launcher's mailbox
    uint64_t reply_request = 0;
    std::vector<BlobRef> blobs;
    size_t next = 0;           // first blob not yet sent
    int inflight = 0;          // batches sent, not yet answered
    uint64_t acked = 0;
    uint64_t last_progress_ns = 0;
    std::string error;         // set: the copy failed
  };

  void reply(int to, uint64_t request, shm::MsgType type, uint64_t move_id, uint32_t partition, Code code,
             uint64_t records);
  bool send_batch(Outgoing& o);
  bool dest_live(int node) const;

  shm::BlockLayout& b_;
  const int id_;
  RecordStore& store_;
  shm::PeerLink& link_;
  std::vector<Outgoing> out_;
  // Data batch request id -> (move id, records in the batch).
  std::unordered_map<uint64_t, std::pair<uint64_t, uint32_t>> batches_;
  uint64_t next_batch_ = 1;
};

}  // namespace cv::node
