// Batch encoding and decoding for mailbox messages.
#include "shm/messages.h"

#include "shm/block_layout.h"

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
  // The smallest entry is a WireResult: no count beyond this can be true.
  if (header_.count > (p_.size() - pos_) / sizeof(WireResult)) ok_ = false;
}

namespace {

Status check_records(std::string_view p, bool write_batch) {
  if (p.size() < sizeof(BatchHeader))
    return Status::corrupt("a record batch of " + std::to_string(p.size()) + " bytes has no header", 0);
  BatchHeader h;
  std::memcpy(&h, p.data(), sizeof h);
  if (write_batch && (h.mode > uint8_t(WriteMode::kKeep) || h.policy > uint8_t(Policy::kSkipExisting)))
    return Status::corrupt("unknown write mode " + std::to_string(h.mode) + " or policy " + std::to_string(h.policy),
                           0);
  size_t pos = sizeof h;
  for (uint32_t i = 0; i < h.count; ++i) {
    if (p.size() - pos < sizeof(WireRecord))
      return Status::corrupt("the batch claims " + std::to_string(h.count) + " records and holds " +
                                 std::to_string(i),
                             pos);
    WireRecord r;
    std::memcpy(&r, p.data() + pos, sizeof r);
    pos += sizeof r;
    if (r.op > kLastRecOp)
      return Status::corrupt("record " + std::to_string(i) + " has unknown op " + std::to_string(r.op), pos);
    const size_t body = size_t(r.key_len) + r.value_len;
    if (p.size() - pos < body)
      return Status::corrupt("record " + std::to_string(i) + " runs past the end of the batch", pos);
    pos += body;
  }
  if (pos != p.size())
    return Status::corrupt(std::to_string(p.size() - pos) + " bytes follow the batch's " + std::to_string(h.count) +
                               " records",
                           pos);
  return Status::ok();
}

Status check_results(std::string_view p) {
  if (p.size() < sizeof(BatchHeader))
    return Status::corrupt("a result batch of " + std::to_string(p.size()) + " bytes has no header", 0);
  BatchHeader h;
  std::memcpy(&h, p.data(), sizeof h);
  if ((p.size() - sizeof h) % sizeof(WireResult) != 0 || (p.size() - sizeof h) / sizeof(WireResult) != h.count)
    return Status::corrupt("the batch claims " + std::to_string(h.count) + " results in " +
                               std::to_string(p.size() - sizeof h) + " bytes",
                           0);
  return Status::ok();
}

}  // namespace

Status check_message(uint16_t type, std::string_view payload) {
  switch (MsgType(type)) {
    case MsgType::kWrite:
    case MsgType::kReplicate: return check_records(payload, true);
    case MsgType::kGet:
    case MsgType::kGetReply:
    case MsgType::kScan:
    case MsgType::kScanReply:
    case MsgType::kWriteValuesReply: return check_records(payload, false);
    case MsgType::kWriteReply:
    case MsgType::kReplicateReply:
    case MsgType::kMoveDataReply: return check_results(payload);
    case MsgType::kMoveData: return check_records(payload, true);
    case MsgType::kMoveCopy:
    case MsgType::kMoveDrop:
      if (payload.size() != sizeof(MoveWire))
        return Status::corrupt("a move request of " + std::to_string(payload.size()) + " bytes", 0);
      return Status::ok();
    case MsgType::kMoveCopyReply:
    case MsgType::kMoveDropReply:
      if (payload.size() != sizeof(MoveReplyWire))
        return Status::corrupt("a move reply of " + std::to_string(payload.size()) + " bytes", 0);
      return Status::ok();
    case MsgType::kBackupRequest: {
      // Empty (the default dir) or an absolute path that fits a schedule,
      // optionally followed by NUL and kBackupAllowPartial.
      const size_t nul = payload.find('\0');
      if (nul != std::string_view::npos) {
        if (payload.substr(nul + 1) != kBackupAllowPartial)
          return Status::corrupt("a backup request carries an unknown option", 0);
        payload = payload.substr(0, nul);
      }
      if (payload.size() >= kPathBytes - 64 || (!payload.empty() && payload[0] != '/'))
        return Status::corrupt("a backup request's output dir must be empty or an absolute path shorter than " +
                                   std::to_string(kPathBytes - 64) + " bytes",
                               0);
      return Status::ok();
    }
    case MsgType::kBackupReply:
      if (payload.size() < sizeof(BackupReplyWire))
        return Status::corrupt("a backup reply of " + std::to_string(payload.size()) + " bytes", 0);
      return Status::ok();
  }
  return Status::ok();
}

bool BatchReader::next(WireRecord* r, std::string_view* key, std::string_view* value) {
  if (!ok_ || pos_ == p_.size() || read_ == header_.count) return false;
  if (p_.size() - pos_ < sizeof(WireRecord)) return ok_ = false;
  std::memcpy(r, p_.data() + pos_, sizeof *r);
  pos_ += sizeof *r;
  const size_t body = size_t(r->key_len) + r->value_len;
  if (p_.size() - pos_ < body) return ok_ = false;
  *key = p_.substr(pos_, r->key_len);
  *value = p_.substr(pos_ + r->key_len, r->value_len);
  pos_ += body;
  ++read_;
  return true;
}

bool BatchReader::next_result(WireResult* r) {
  if (!ok_ || pos_ == p_.size() || read_ == header_.count) return false;
  if (p_.size() - pos_ < sizeof(WireResult)) return ok_ = false;
  std::memcpy(r, p_.data() + pos_, sizeof *r);
  pos_ += sizeof *r;
  ++read_;
  return true;
}

}  // namespace cv::shm
