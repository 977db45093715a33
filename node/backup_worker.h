// BackupWorker: a serving node's part of the backup protocol. On request it
// generates a schedule from the current distribution table; when a schedule
// is enabled it takes a point-in-time hot backup of the node's records
// (sorted by key) into the node's own path on a worker thread, sends the copy
// to the assigned target through a mapped file, and re-sends it after a
// target failover. Local copies are removed once the schedule completes.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "node/record_store.h"
#include "shm/block.h"

namespace cv::node {

class BackupWorker {
 public:
  BackupWorker(shm::Block& block, int node_id, RecordStore& store);
  ~BackupWorker();

  // Uploads a new schedule (state `created`). Refuses while another backup
  // is running, naming it. out_dir empty means <data dir>/backups.
  Status create_schedule(const std::string& out_dir, uint64_t* id);
  // Called from the request loop (the thread that writes): starts snapshots,
  // re-sends after failover, cleans up finished schedules.
  void poll();
  void stop();

 private:
  void snapshot_and_send(int slot, uint64_t schedule_id);
  void resend(int slot, uint64_t schedule_id);

  shm::Block& block_;
  shm::BlockLayout& b_;
  const int id_;
  RecordStore& store_;
  std::thread worker_;
  std::atomic<bool> busy_{false};
  uint64_t cleaned_through_ = 0;
};

}  // namespace cv::node
