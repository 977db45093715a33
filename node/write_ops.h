// Read-modify-write operations of the Redis front end (SET NX/XX/GET, DEL
// counting, GETDEL, the INCR family, APPEND, SETRANGE, MSETNX, the EXPIRE
// family, PERSIST, GETEX), evaluated by the primary in
// its request loop against the value it holds, so each is atomic. A batch
// carrying them is rewritten into the plain puts and deletes that the
// normal write path stores and replicates; the answer for each record (old
// value, new number, error text) is kept for the kWriteValuesReply.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "node/record_store.h"
#include "shm/messages.h"

namespace cv::node {

// The answer to one record of a value-wanting batch.
struct ValueReply {
  uint32_t index = 0;          // the record's index in the request
  shm::RecStatus status = shm::RecStatus::kOk;  // kNotFound: nil; kBadRequest: value is the error
  bool writes = false;         // the record became a write; its write status counts too
  std::string value;
};

// Rewrites a kAssign batch: records this node is primary for (is_primary
// of their partition) are evaluated in order, each seeing the ones before
// it; those that change something become kPut / kDelete records in *out
// (same index), the others are left out. *replies gets one entry per
// record of the request, in order. False if the payload is malformed.
bool evaluate_write_ops(const RecordStore& store, std::string_view payload,
                        const std::function<bool(uint32_t partition)>& is_primary, std::string* out,
                        std::vector<ValueReply>* replies);

// The kWriteValuesReply payload: each reply, with the write status of its
// record (a failure to store or replicate replaces the answer).
std::string encode_value_replies(const std::vector<ValueReply>& replies, const std::vector<shm::WireResult>& written);

// The value of a kMSetNx record (shm::MSetNxPair layout): the pairs, or
// their size before encoding.
size_t msetnx_bytes(const std::vector<std::pair<std::string_view, std::string_view>>& pairs);
std::string encode_msetnx(const std::vector<std::pair<std::string_view, std::string_view>>& pairs);
// False if the bytes are not such pairs (lengths past the end, a key of a
// size no record can have, a value past the limit, no pair at all).
bool decode_msetnx(std::string_view bytes, std::vector<std::pair<std::string_view, std::string_view>>* pairs);

// Redis's number formats and checks, shared with the front end.
bool parse_int64(std::string_view s, int64_t* out);
bool parse_long_double(std::string_view s, long double* out);
std::string format_long_double(long double v);

}  // namespace cv::node
