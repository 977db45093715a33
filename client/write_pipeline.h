// WritePipeline: streams records to the cluster in batches with a window of
// requests in flight, and keeps the failed-record list: a record whose write
// fails goes on the list, and every send takes from the list first. A record
// that keeps failing is retried with backoff until max_attempts, then given
// up (reported, never dropped silently). Used by put/del/load and restore.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/cluster_client.h"
#include "shm/messages.h"

namespace cv::client {

struct OwnedRecord {
  std::string key;
  std::string value;
  uint64_t version = 0;
  uint64_t timestamp = 0;
  uint8_t op = 0;            // shm::RecOp
  uint64_t seq = 0;          // position in the caller's input (restore: record index)
  uint32_t attempts = 0;
  uint64_t not_before_ns = 0;
  shm::RecStatus last = shm::RecStatus::kOk;
  uint64_t expire_ms = 0;    // the record's expiry (restore keeps it); 0: none
};

struct PipelineOptions {
  shm::WriteMode mode = shm::WriteMode::kAssign;
  shm::Policy policy = shm::Policy::kNewer;
  uint64_t tag = 0;               // restore id
  uint64_t expected_records = 0;  // restore: records in the file
  int window = 8;                 // batches in flight
  size_t batch_records = 512;     // records per batch (1 with window 1: stop-and-wait)
  int entry_node = -1;            // kKeep: the node every batch goes to
  uint64_t reply_timeout_ms = 5000;
  uint32_t max_attempts = 12;
  bool track_latency = false;     // keep each batch's request-to-reply time
};

struct PipelineStats {
  uint64_t acked = 0;            // ok or stale
  uint64_t stale = 0;
  uint64_t failed_retries = 0;   // records that went on the failed list
  uint64_t gave_up = 0;
};

class WritePipeline {
 public:
  // Called once per record that is done (ok or stale).
  using AckFn = std::function<void(std::string_view key, uint64_t version, shm::RecStatus status)>;

  WritePipeline(ClusterClient& client, PipelineOptions options, AckFn on_ack);

  // Queues one record; sends when a batch fills; blocks while the window is full.
  Status submit(std::string_view key, std::string_view value, uint8_t op, uint64_t version, uint64_t timestamp,
                uint64_t seq, uint64_t expire_ms = 0);
  // Re-queues a record from an earlier run's failed list.
  void requeue(OwnedRecord r) { failed_.push_back(std::move(r)); }
  // Sends what is queued and waits until every record is done or given up.
  Status flush();

  const PipelineStats& stats() const { return stats_; }
  const std::vector<OwnedRecord>& given_up() const { return given_up_; }
  // Every record with seq below this is done; records at or above it may be
  // in flight, queued, on the failed list or given up.
  uint64_t low_water(uint64_t next_seq) const;
  const std::deque<OwnedRecord>& failed_list() const { return failed_; }
  // Request-to-reply times of the batches, in microseconds (track_latency).
  const std::vector<uint32_t>& latencies_us() const { return latencies_us_; }

 private:
  struct OpenBatch {
    shm::BatchBuilder builder;
    std::vector<uint32_t> offsets;
    std::vector<uint64_t> seqs;
  };
  struct InFlight {
    int dest;
    std::string payload;
    std::vector<uint32_t> offsets;
    std::vector<uint64_t> seqs;
    uint64_t sent_ns;
  };

  // The node a record goes to: -1 if none is up now, kLostPartition if
  // every replica of its partition is gone.
  int destination(std::string_view key);
  static constexpr int kLostPartition = -2;
  void give_up_lost(OwnedRecord r);
  void add(int dest, const shm::WireRecord& r, std::string_view key, std::string_view value, uint64_t seq);
  Status send_batch(int dest);
  Status take_failed_first();
  Status pump(uint64_t wait_ns);
  void on_reply(const shm::MsgHeader& h, std::string_view payload);
  void fail_record(const InFlight& f, uint32_t i, shm::RecStatus why);
  void expire();
  Status entry_check();  // the cluster and (restore) the entry node are alive

  ClusterClient& client_;
  PipelineOptions opt_;
  AckFn on_ack_;
  std::vector<OpenBatch> open_;
  std::unordered_map<uint64_t, InFlight> inflight_;
  std::deque<OwnedRecord> failed_;
  std::vector<OwnedRecord> given_up_;
  PipelineStats stats_;
  std::vector<uint32_t> latencies_us_;
  Status fatal_;
};

}  // namespace cv::client
