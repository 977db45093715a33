// RecordBlob: one stored version of a record (its key and value bytes with
// version, timestamp, tombstone flag and optional expiry) in a single allocation, immutable
// once made and shared by reference count. A write makes a new blob instead
// of changing the old one, so a hot backup can hold on to the blobs it
// copies without copying their bytes, while writes go on. The key lives
// here rather than in the node's hash table, so that a table slot is 16
// bytes: an insert then touches one slot line instead of two. A record
// without an expiry (most) spends no bytes on it: the 8-byte expiry sits
// before the key only when there is one.
#pragma once

#include <atomic>
#include <boost/intrusive_ptr.hpp>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>

#include "shm/messages.h"

namespace cv::node {

class RecordBlob {
 public:
  static_assert(shm::kMaxKeyBytes <= UINT16_MAX, "a key's length is kept in 16 bits");
  static boost::intrusive_ptr<RecordBlob> make(std::string_view key, std::string_view value, uint64_t version,
                                               uint64_t timestamp, bool tombstone, uint64_t expire_ms = 0) {
    const size_t extra = expire_ms ? sizeof(uint64_t) : 0;
    void* mem = ::operator new(sizeof(RecordBlob) + extra + key.size() + value.size());
    auto* b = new (mem) RecordBlob(uint16_t(key.size()), uint32_t(value.size()), version, timestamp, tombstone,
                                   expire_ms != 0);
    if (expire_ms) std::memcpy(reinterpret_cast<char*>(b + 1), &expire_ms, sizeof expire_ms);
    if (!key.empty()) std::memcpy(b->bytes(), key.data(), key.size());
    if (!value.empty()) std::memcpy(b->bytes() + key.size(), value.data(), value.size());
    return boost::intrusive_ptr<RecordBlob>(b, false);
  }

  std::string_view key() const { return {bytes(), key_size_}; }
  std::string_view value() const { return {bytes() + key_size_, size_}; }
  uint64_t version() const { return version_; }
  uint64_t timestamp() const { return timestamp_; }
  bool tombstone() const { return tombstone_; }
  // Absolute expiry in ms since the Unix epoch; 0: none.
  uint64_t expire_ms() const {
    if (!has_expiry_) return 0;
    uint64_t v;
    std::memcpy(&v, reinterpret_cast<const char*>(this + 1), sizeof v);
    return v;
  }

  friend void intrusive_ptr_add_ref(RecordBlob* b) { b->refs_.fetch_add(1, std::memory_order_relaxed); }
  friend void intrusive_ptr_release(RecordBlob* b) {
    // Released by the request loop and the backup thread alike.
    if (b->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      b->~RecordBlob();
      ::operator delete(b);
    }
  }

 private:
  RecordBlob(uint16_t key_size, uint32_t size, uint64_t version, uint64_t timestamp, bool tombstone, bool has_expiry)
      : size_(size),
        version_(version),
        timestamp_(timestamp),
        key_size_(key_size),
        tombstone_(tombstone),
        has_expiry_(has_expiry) {}
  char* bytes() { return reinterpret_cast<char*>(this + 1) + (has_expiry_ ? sizeof(uint64_t) : 0); }
  const char* bytes() const { return reinterpret_cast<const char*>(this + 1) + (has_expiry_ ? sizeof(uint64_t) : 0); }

  std::atomic<uint32_t> refs_{1};
  uint32_t size_;
  uint64_t version_;
  uint64_t timestamp_;
  uint16_t key_size_;
  bool tombstone_;
  bool has_expiry_;
};
static_assert(sizeof(RecordBlob) == 32, "the expiry flag fits the padding");

using BlobRef = boost::intrusive_ptr<RecordBlob>;

}  // namespace cv::node
