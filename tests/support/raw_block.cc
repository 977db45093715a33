// RawBlock: direct mapping of a cluster's block for fault-injection tests.
#include "tests/support/raw_block.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "shm/block.h"
#include "shm/futex.h"
#include "shm/robust_mutex.h"

namespace cv::test {

RawBlock::RawBlock(const std::string& cluster) {
  const std::string path = "/dev/shm/" + shm::segment_name(cluster);
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st{};
  if (fstat(fd, &st) == 0 && uint64_t(st.st_size) >= shm::kBlockBytes) {
    void* m = mmap(nullptr, shm::kBlockBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m != MAP_FAILED) {
      base_ = m;
      size_ = shm::kBlockBytes;
    }
  }
  ::close(fd);
}

RawBlock::~RawBlock() {
  if (base_) munmap(base_, size_);
}

bool RawBlock::publish_raw(int mailbox, std::string_view bytes) {
  shm::MailboxHeader& h = layout().mailboxes[mailbox];
  shm::LockGuard g(h.producer_lock, 2000);
  if (!g.locked()) return false;
  const uint64_t tail = h.tail.load();
  const uint64_t head = h.head.load();
  if (shm::kMailboxRingBytes - (tail - head) < bytes.size()) return false;
  const uint64_t at = tail % shm::kMailboxRingBytes;
  if (at + bytes.size() > shm::kMailboxRingBytes) return false;
  std::memcpy(ring(mailbox) + at, bytes.data(), bytes.size());
  h.tail.store(tail + bytes.size());
  h.publish_seq.fetch_add(1);
  shm::futex_wake(&h.publish_seq, 1);
  return true;
}

}  // namespace cv::test
