// Test support: a cluster's block mapped directly, as any process of the
// same user could map it, to write into it what a broken or hostile peer
// would (random frames, garbage schedules, a half-finished table update).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "shm/block_layout.h"

namespace cv::test {

class RawBlock {
 public:
  // Maps /dev/shm/cachevault.<cluster> read-write; ok() is false if it
  // cannot (missing, or smaller than a block).
  explicit RawBlock(const std::string& cluster);
  ~RawBlock();
  RawBlock(const RawBlock&) = delete;
  RawBlock& operator=(const RawBlock&) = delete;

  bool ok() const { return base_ != nullptr; }
  shm::BlockLayout& layout() { return *static_cast<shm::BlockLayout*>(base_); }
  char* ring(int mailbox) { return static_cast<char*>(base_) + shm::kRingsOffset + uint64_t(mailbox) * shm::kMailboxRingBytes; }

  // Copies `bytes` to the mailbox's ring at its tail, under its producer
  // lock, and publishes them as they are, whatever they hold. Returns false
  // if the lock or the room was not there. The bytes must not cross the
  // ring's end (the caller keeps them short; the ring is 8 MiB).
  bool publish_raw(int mailbox, std::string_view bytes);

 private:
  void* base_ = nullptr;
  size_t size_ = 0;
};

}  // namespace cv::test
