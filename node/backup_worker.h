// BackupWorker: a serving node's part of the backup protocol. On request it
// generates a schedule from the current distribution table; when a schedule
// is enabled it takes a point-in-time hot backup of the node's records: the
// request loop marks the instant and copies the partitions in slices of at
// most a millisecond between requests (step()); a background (SCHED_IDLE) worker thread
// then sorts the copy by key, writes it to the node's own path, sends it to
// the assigned target through a mapped file, and re-sends it after a target
// failover. Local copies are removed once the schedule completes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "node/record_store.h"
#include "shm/block.h"

namespace cv::node {

class BackupWorker {
 public:
  BackupWorker(shm::Block& block, int node_id, RecordStore& store);
  ~BackupWorker();

  // Uploads a new schedule (state `created`). Refuses while another backup
  // is running, naming it. out_dir empty means <data dir>/backups.
  Status create_schedule(const std::string& out_dir, bool allow_partial, uint64_t* id);
  // Called from the request loop (the thread that writes): starts snapshots,
  // re-sends after failover, cleans up finished schedules.
  void poll();
  // Called from the request loop between requests: copies the next slice of
  // partitions of a snapshot in progress, and drops a slice of the values a
  // spent snapshot held on to.
  void step();
  bool capturing() const { return capture_ != nullptr; }
  // Called on the request loop's tick. The worker runs at idle priority:
  // while it is runnable it is waiting for a core, slow but not stuck, so
  // its copy's progress clock is kept going on its behalf.
  void vouch_for_worker();
  // When the node stops: waits for the backup thread, raised to the normal
  // policy, at most kWorkerStopTimeoutMs; a thread still stuck then makes
  // the process exit at once (status 0, logged) rather than wait for ever.
  void stop();

 private:
  // A snapshot being copied by the request loop.
  struct Capture {
    int slot;
    uint64_t schedule_id;
    uint32_t next_partition;
    uint64_t started_ns;
    SnapshotRecords snap;
  };

  // The one way a backup thread starts: it says when it has finished, so
  // the request loop never joins a thread that is still running.
  void start_worker(std::function<void()> body);
  bool worker_finished() const;
  void join_worker();
  static uint64_t stop_timeout_ms();

  void write_and_send(std::unique_ptr<Capture> c);
  // On the request loop: once the worker has written the copy, releases
  // the snapshot and queues the values it kept alive for dropping.
  void take_spent_snapshot();
  // On the request loop: drops queued values for at most a slice.
  void drop_some();
  // Sorts the snapshot and writes it to the node's own path.
  Status write_local_copy(Capture& c);
  void resend(int slot, uint64_t schedule_id);
  void fail_entry(int slot, uint64_t schedule_id, const std::string& why);
  // On the worker thread: its progress goes to this schedule's entry.
  void report_progress_to(int slot);
  void stop_reporting_progress();

  shm::Block& block_;
  shm::BlockLayout& b_;
  const int id_;
  RecordStore& store_;
  std::thread worker_;
  std::atomic<bool> worker_done_{true};
  std::unique_ptr<Capture> capture_;
  std::atomic<bool> busy_{false};
  std::atomic<int> worker_tid_{0};    // the worker thread reporting progress, 0 if none
  std::atomic<int> worker_slot_{-1};  // ... to this schedule slot's entry
  // The worker never frees a record's value: the request loop allocated it,
  // and a free from another thread takes the allocator's lock, which an
  // idle-priority thread may hold for as long as it waits for a core. So
  // the worker hands the spent snapshot's values back here.
  std::atomic<bool> snapshot_spent_{false};
  std::vector<BlobRef> spent_kept_;  // written by the worker before snapshot_spent_
  std::vector<BlobRef> to_drop_;     // request loop only
  uint64_t cleaned_through_ = 0;
};

}  // namespace cv::node
