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
#include <deque>
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
  void on_copy(const shm::MsgHeader& h, std::string_view payload);
  // kMoveData from a source: queue the batch. Its records are applied by
  // apply_incoming() in slices, so that a write queued behind several
  // batches in the mailbox waits for a slice, not for every batch.
  void on_data(const shm::MsgHeader& h, std::string_view payload);
  // Applies queued move records for about `budget_ns`, answering each batch
  // (one result per record) when its last record is applied. Returns the
  // records applied (for the node's request count).
  uint32_t apply_incoming(uint64_t budget_ns);
  bool receiving() const { return !in_.empty(); }
  // kMoveDataReply from the new holder.
  void on_data_reply(const shm::MsgHeader& h, std::string_view payload);
  // kMoveDrop from the launcher: forget a partition this node no longer
  // holds. Queued: the launcher asks for many at once, and drop_next()
  // does one per loop turn, so requests between them wait for one only.
  void on_drop(const shm::MsgHeader& h, std::string_view payload);
  bool drop_pending() const { return !drops_.empty(); }
  // Does the oldest queued drop if the table (fresh) no longer lists this node.
  void drop_next(const shm::TableCopy& table);
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
    bool collected = false;    // blobs taken: done when the copy's turn comes
    std::vector<BlobRef> blobs;
    size_t next = 0;           // first blob not yet sent
    int inflight = 0;          // batches sent, not yet answered
    uint64_t acked = 0;
    uint64_t last_progress_ns = 0;
    std::string error;         // set: the copy failed
  };

  // A data batch taken from the mailbox, applied a slice at a time.
  struct Incoming {
    int from = 0;
    uint64_t request_id = 0;
    std::string payload;       // from spare_payloads_: its pages are in use already
    shm::BatchReader reader{std::string_view()};
    bool fail = false;  // the receive failpoint fired for this batch
  };

  void reply(int to, uint64_t request, shm::MsgType type, uint64_t move_id, uint32_t partition, Code code,
             uint64_t records);
  // Sends the copy's next batch, ending it early at until_ns.
  bool send_batch(Outgoing& o, uint64_t until_ns);
  bool dest_live(int node) const;

  shm::BlockLayout& b_;
  const int id_;
  RecordStore& store_;
  shm::PeerLink& link_;
  std::vector<Outgoing> out_;
  // Batches received, oldest first; the front one may be partly applied.
  // Their sources' windows bound how many wait here.
  std::deque<Incoming> in_;
  struct DropRequest {
    int from = 0;
    uint64_t request_id = 0;
    shm::MoveWire move{};
  };
  std::deque<DropRequest> drops_;
  // Buffers kept between batches: a fresh 256 KiB buffer is fresh pages,
  // and faulting them in costs more than filling them.
  std::vector<std::string> spare_payloads_;
  shm::BatchBuilder send_builder_;
  shm::BatchBuilder results_;  // the answers to in_.front()
  // Data batch request id -> (move id, records in the batch).
  std::unordered_map<uint64_t, std::pair<uint64_t, uint32_t>> batches_;
  uint64_t next_batch_ = 1;
};

}  // namespace cv::node
