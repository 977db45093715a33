// Block: one process's mapping of a cluster's public storage block. Creating
// and attaching are different calls; the creator initialises the layout and
// writes init_done last. Owns the mapping; copy deleted, move allowed.
#pragma once

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <memory>
#include <string>

#include "shm/block_layout.h"
#include "shm/mailbox.h"
#include "shm/spill.h"
#include "shm/status.h"

namespace cv::shm {

// "/cachevault.<name>": the POSIX shared-memory name of a cluster's block.
std::string segment_name(const std::string& cluster);
// Checks a cluster name: 1-48 characters of [A-Za-z0-9_.-], not starting with '.'.
Status validate_cluster_name(const std::string& cluster);

class Block {
 public:
  // Creates the segment (mode 0600) exclusively and lays it out. Fails with a
  // clear message if it exists; the launcher removes stale ones first.
  static Status create(const std::string& cluster, const ClusterConfig& config, int launcher_pid,
                       std::unique_ptr<Block>* out);
  // Attaches to a running cluster's block; a missing block, one never
  // finished, or one whose launcher is gone reads "cluster 'x' is not running"
  // (kNotFound). A block or lock file that is not this user's, or not mode
  // 0600, is refused (kIoError) naming path, owner and mode.
  static Status attach(const std::string& cluster, std::unique_ptr<Block>* out);
  // Unlinks the segment name; mappings stay valid until unmapped.
  static bool remove(const std::string& cluster);

  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;

  BlockLayout& layout() { return *static_cast<BlockLayout*>(region_.get_address()); }
  const BlockLayout& layout() const { return *static_cast<const BlockLayout*>(region_.get_address()); }
  char* ring(int mailbox) {
    return static_cast<char*>(region_.get_address()) + kRingsOffset + uint64_t(mailbox) * kMailboxRingBytes;
  }
  const std::string& cluster() const { return cluster_; }
  // Where this cluster's oversized messages go (shm/spill.h).
  const std::string& spill_prefix() const { return spill_prefix_; }
  // A view of mailbox `index` that can send messages of any size.
  Mailbox mailbox(int index) { return Mailbox(&layout().mailboxes[index], ring(index), spill_prefix_); }

  // Bumps change_seq and wakes every watcher of the block.
  void notify_change();
  // Sleeps until change_seq moves past `seen` or timeout_ms passes.
  void wait_change(uint32_t seen, uint64_t timeout_ms);

 private:
  Block(std::string cluster, boost::interprocess::mapped_region region)
      : cluster_(std::move(cluster)), spill_prefix_(shm::spill_prefix(cluster_)), region_(std::move(region)) {}

  std::string cluster_;
  std::string spill_prefix_;
  boost::interprocess::mapped_region region_;
};

// Tests: the environment variable that starts a cluster on a test clock
// (see shm/clock.h), read by the launcher when it creates the block.
inline constexpr const char* kTestClockEnv = "CACHEVAULT_TEST_CLOCK";

// True if a process with this pid exists and is not a zombie.
bool pid_alive(int pid);
// "/dev/shm/cachevault.<name>.lock": held (flock) by a live launcher.
std::string launcher_lock_path(const std::string& cluster);
// True while a live launcher holds the cluster's lock file.
bool launcher_holds_lock(const std::string& cluster);
// Opens the cluster's lock file, never through a symlink; with `create`,
// read-write and made exclusively (O_EXCL, mode 0600) if missing. Refuses
// (kIoError, "refusing <path> ...") a file that is not ours or not 0600.
Status open_launcher_lock(const std::string& cluster, bool create, int* fd);
// Ok if the open file is a regular file owned by this user with mode 0600;
// otherwise an error naming the path, its owner and its mode.
Status check_private_file(int fd, const std::string& path);

}  // namespace cv::shm
