// Batch encoding and decoding for mailbox messages.
#include "shm/messages.h"

namespace cv::shm {

const char* rec_status_name(RecStatus s) {
  switch (s) {
    case RecStatus::kOk: return "ok";
    case RecStatus::kStale: return "stale";
    case RecStatus::kNodeDown: return "node down";
    case RecStatus::kTimeout: return "timeout";
    case RecStatus::kFull: return "full";
    case RecStatus::kBadRequest: return "bad request";
    case RecStatus::kNotFound: return "not found";
    case RecStatus::kWrongNode: return "wrong node";
    case RecStatus::kLost: return "partition lost";
    case RecStatus::kReplicaFailed: return "replica failed";
  }
  return "unknown";
}

BatchBuilder::BatchBuilder(WriteMode mode, Policy policy, uint64_t tag) { reset(mode, policy, tag); }

void BatchBuilder::reset(WriteMode mode, Policy policy, uint64_t tag, uint64_t expected_records) {
  buf_.clear();
  BatchHeader h{0, uint8_t(mode), uint8_t(policy), 0, tag, 0, expected_records};
  buf_.append(reinterpret_cast<const char*>(&h), sizeof h);
  count_ = 0;
}

void BatchBuilder::add(const WireRecord& r, std::string_view key, std::string_view value) {
  buf_.append(reinterpret_cast<const char*>(&r), sizeof r);
  buf_.append(key);
  buf_.append(value);
  ++count_;
}

void BatchBuilder::add_result(const WireResult& r) {
  buf_.append(reinterpret_cast<const char*>(&r), sizeof r);
  ++count_;
}

void BatchBuilder::set_tag(uint64_t tag) { std::memcpy(buf_.data() + offsetof(BatchHeader, tag), &tag, 8); }
void BatchBuilder::set_epoch(uint64_t epoch) { std::memcpy(buf_.data() + offsetof(BatchHeader, epoch), &epoch, 8); }
void BatchBuilder::set_flags(uint16_t flags) { std::memcpy(buf_.data() + offsetof(BatchHeader, flags), &flags, 2); }

std::string_view BatchBuilder::finish() {
  std::memcpy(buf_.data() + offsetof(BatchHeader, count), &count_, sizeof count_);
  return buf_;
}

BatchReader::BatchReader(std::string_view payload) : p_(payload) {
  if (p_.size() < sizeof(BatchHeader)) {
    ok_ = false;
    return;
  }
  std::memcpy(&header_, p_.data(), sizeof header_);
  pos_ = sizeof header_;
}

bool BatchReader::next(WireRecord* r, std::string_view* key, std::string_view* value) {
  if (!ok_ || pos_ == p_.size()) return false;
  if (p_.size() - pos_ < sizeof(WireRecord)) return ok_ = false;
  std::memcpy(r, p_.data() + pos_, sizeof *r);
  pos_ += sizeof *r;
  const size_t body = size_t(r->key_len) + r->value_len;
  if (p_.size() - pos_ < body) return ok_ = false;
  *key = p_.substr(pos_, r->key_len);
  *value = p_.substr(pos_ + r->key_len, r->value_len);
  pos_ += body;
  return true;
}

bool BatchReader::next_result(WireResult* r) {
  if (!ok_ || pos_ == p_.size()) return false;
  if (p_.size() - pos_ < sizeof(WireResult)) return ok_ = false;
  std::memcpy(r, p_.data() + pos_, sizeof *r);
  pos_ += sizeof *r;
  return true;
}

}  // namespace cv::shm
