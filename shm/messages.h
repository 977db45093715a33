// The request and reply messages exchanged through mailboxes, and the
// encoding of record batches inside them. Every wire constant is here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "shm/limits.h"
#include "shm/status.h"

namespace cv::shm {

enum class MsgType : uint16_t {
  kWrite = 1,           // client -> coordinator: a batch of writes
  kWriteReply = 2,      // one WireResult per record
  kReplicate = 3,       // coordinator -> replica
  kReplicateReply = 4,
  kGet = 5,             // client -> replica: keys
  kGetReply = 6,        // one WireRecord per key (status kOk or kNotFound)
  kScan = 7,            // client -> node: records of partitions from `cursor`
  kScanReply = 8,
  kBackupRequest = 9,   // client -> serving node: the output dir [NUL kBackupAllowPartial]
  kBackupReply = 10,    // BackupReplyWire + message
  // Answer to a kWrite batch that asked for values (kBatchWantValues): one
  // WireRecord per record of the request, status and reply value.
  kWriteValuesReply = 11,
  // Partition moves (the launcher runs them; see launcher/move_controller.h).
  kMoveCopy = 17,       // launcher -> source holder: MoveWire, stream the partition to `dest`
  kMoveCopyReply = 18,  // source -> launcher: MoveReplyWire
  kMoveData = 19,       // source -> new holder: a batch of the partition's records (kKeep, kNewer)
  kMoveDataReply = 20,  // one WireResult per record
  kMoveDrop = 21,       // launcher -> old holder: MoveWire, drop the partition's records
  kMoveDropReply = 22,  // MoveReplyWire
};

// The option of a backup request that lets it leave lost partitions out.
inline constexpr std::string_view kBackupAllowPartial = "allow-partial";

// A move step as the launcher asks it.
struct MoveWire {
  uint64_t move_id;
  uint32_t partition;
  uint16_t dest;       // kMoveCopy: the node that receives the data
  uint16_t reserved;
  uint64_t epoch;      // the table epoch the launcher planned the step under
};
static_assert(sizeof(MoveWire) == 24);

struct MoveReplyWire {
  uint64_t move_id;
  uint32_t code;       // cv::Code
  uint32_t partition;
  uint64_t records;    // records copied or dropped
};
static_assert(sizeof(MoveReplyWire) == 24);

// How a coordinator treats a batch.
enum class WriteMode : uint8_t {
  kAssign = 0,  // put/del: the primary assigns version and timestamp
  kKeep = 1,    // restore: records keep their version and timestamp
};

// What a replica does with a kept-version record when it holds the key.
enum class Policy : uint8_t {
  kNewer = 0,         // apply only if (version, timestamp) is newer
  kOverwrite = 1,     // always apply
  kSkipExisting = 2,  // apply only if the key is absent
};

// One status per record, as the client sees it.
enum class RecStatus : uint8_t {
  kOk = 0,
  kStale = 1,        // a newer (or, with skip-existing, any) record was kept
  kNodeDown = 2,
  kTimeout = 3,
  kFull = 4,         // the node's memory cap refused it
  kBadRequest = 5,
  kNotFound = 6,     // get: no such key
  kWrongNode = 7,    // the receiver is not a replica under its table
  kLost = 8,         // every replica of the key's partition is gone
  kReplicaFailed = 9,  // a replica failed to apply the write (it is being fenced)
};

const char* rec_status_name(RecStatus s);

// kPut and kDelete are what is stored and replicated. The others come from
// the Redis front end in kAssign batches: the primary evaluates them against
// the value it holds (node/write_ops.cc), atomically since its request loop
// is the store's only writer, and replicates the outcome as kPut / kDelete.
enum class RecOp : uint8_t {
  kPut = 0,
  kDelete = 1,
  kSetCond = 2,      // put if the kCond* bits of WireRecord::aux allow
  kDeleteCount = 3,  // delete, answering whether (kCondGet: what) it held
  kIncrBy = 4,       // value: a decimal int64 delta
  kIncrByFloat = 5,  // value: a decimal float delta
  kAppend = 6,       // value: bytes to append
  // EXPIRE family, PERSIST, GETEX: value is the new absolute expiry in ms,
  // decimal and signed (a time before now deletes the key), or empty with
  // kExpPersist; the kExp* bits of aux say which and under what condition.
  kExpire = 7,
  // SETRANGE: value is the bytes to write at the offset in aux (at most
  // kMaxValueBytes), zero-padding the value held; the expiry is kept.
  kSetRange = 8,
  // MSETNX: key is the first key; value holds every key and value (the
  // first included), each as a MSetNxPair followed by its key and value
  // bytes, all in the record's partition. Sets them all only if none exists.
  kMSetNx = 9,
};
// The last op there is: check_message refuses anything past it.
inline constexpr uint8_t kLastRecOp = uint8_t(RecOp::kMSetNx);
struct MSetNxPair {
  uint16_t key_len;
  uint16_t reserved;
  uint32_t value_len;
};
static_assert(sizeof(MSetNxPair) == 8);
inline constexpr uint32_t kCondNx = 1;   // only if absent
inline constexpr uint32_t kCondXx = 2;   // only if present
inline constexpr uint32_t kCondGet = 4;  // answer the old value
// kSetCond: keep the expiry the key has (SET ... KEEPTTL); otherwise the
// record's expire_ms replaces it.
inline constexpr uint32_t kCondKeepTtl = 8;
// kExpire: only if the key has no expiry / has one / the new one is later /
// earlier (Redis's NX, XX, GT, LT); remove the expiry (PERSIST, GETEX
// PERSIST); answer the value (GETEX) instead of 1 / 0; the value is an
// error text to answer if the key exists (GETEX with a bad expiry).
inline constexpr uint32_t kExpNx = 16;
inline constexpr uint32_t kExpXx = 32;
inline constexpr uint32_t kExpGt = 64;
inline constexpr uint32_t kExpLt = 128;
inline constexpr uint32_t kExpPersist = 256;
inline constexpr uint32_t kExpGetValue = 512;
inline constexpr uint32_t kExpBadArgument = 1024;
// BatchHeader::flags: answer with kWriteValuesReply.
inline constexpr uint16_t kBatchWantValues = 1;

struct BatchHeader {
  uint32_t count;
  uint8_t mode;     // WriteMode
  uint8_t policy;   // Policy
  uint16_t flags;   // kBatchWantValues
  uint64_t tag;     // kWrite/kKeep: restore id; kScan/kScanReply: partition cursor
  uint64_t epoch;   // sender's table epoch
  // kKeep: how many records the whole restore writes (0: unknown), so that
  // nodes can size their tables once instead of growing them step by step.
  uint64_t expected_records;
};
static_assert(sizeof(BatchHeader) == 32);

// A record on the wire, followed by key and value bytes.
struct WireRecord {
  uint16_t key_len;
  uint8_t op;       // RecOp
  uint8_t status;   // RecStatus (replies)
  uint32_t value_len;
  uint64_t version;
  uint64_t timestamp;
  uint32_t index;   // position in the client's batch, echoed in replies
  // kSetCond / kDeleteCount: kCond* bits. With kPut / kDelete the sender's
  // own (the write pipeline counts a record's attempts in it).
  uint32_t aux;
  // The record's absolute expiry, ms since the Unix epoch (0: none; see
  // shm/expiry.h). Part of the record's version: replicated, moved,
  // restored and answered to gets with it.
  uint64_t expire_ms;
};
static_assert(sizeof(WireRecord) == 40);

struct WireResult {
  uint8_t status;   // RecStatus
  uint8_t reserved[3];
  uint32_t index;
  uint64_t version;
  uint64_t timestamp;
};
static_assert(sizeof(WireResult) == 24);

struct BackupReplyWire {
  uint32_t code;    // cv::Code
  uint32_t reserved;
  uint64_t schedule_id;
};
static_assert(sizeof(BackupReplyWire) == 16);

inline constexpr size_t kMaxKeyBytes = 1024;
// A kGetReply whose records would pass this many bytes is sent in parts:
// each but the last carries tag kGetReplyMore.
inline constexpr size_t kGetReplySplitBytes = 1024 * 1024;
inline constexpr uint64_t kGetReplyMore = 1;
// Batches are cut at this many payload bytes; larger single records still
// fit one message on their own.
inline constexpr size_t kBatchTargetBytes = 256 * 1024;

// Appends records into a batch payload (header first, count patched at the end).
class BatchBuilder {
 public:
  explicit BatchBuilder(WriteMode mode = WriteMode::kAssign, Policy policy = Policy::kNewer, uint64_t tag = 0);
  void add(const WireRecord& r, std::string_view key, std::string_view value);
  void add_result(const WireResult& r);
  uint32_t count() const { return count_; }
  size_t bytes() const { return buf_.size(); }
  bool empty() const { return count_ == 0; }
  void set_tag(uint64_t tag);
  void set_epoch(uint64_t epoch);
  void set_flags(uint16_t flags);
  // The payload with its count filled in.
  std::string_view finish();
  void reset(WriteMode mode, Policy policy, uint64_t tag, uint64_t expected_records = 0);

 private:
  std::string buf_;
  uint32_t count_ = 0;
};

// Checks a message's payload against its type before anyone reads it: a
// record batch holds exactly `count` records whose key and value bytes lie
// inside it (an empty or over-long key or value is the receiver's to
// answer as a bad request), a result batch exactly
// `count` results; mode, policy and op are known values; a backup request
// is a path that fits. Types this build does not know pass: their receiver
// ignores them. Bytes in the block come from other processes and are never
// trusted.
Status check_message(uint16_t type, std::string_view payload);

// Reads a batch payload; bounds-checked, since a peer may have died halfway
// through nothing (publication is atomic) but a bug must not crash a node.
// A count claiming more entries than the payload can hold is refused at
// once (ok() false), so callers may size arrays by header().count; never
// more than `count` entries are returned.
class BatchReader {
 public:
  explicit BatchReader(std::string_view payload);
  bool ok() const { return ok_; }
  const BatchHeader& header() const { return header_; }
  // Next record; false at the end or on a malformed entry (then ok() is false).
  bool next(WireRecord* r, std::string_view* key, std::string_view* value);
  bool next_result(WireResult* r);

 private:
  std::string_view p_;
  size_t pos_ = 0;
  uint32_t read_ = 0;  // entries returned so far; never more than the count
  BatchHeader header_{};
  bool ok_ = true;
};

}  // namespace cv::shm
