// Status: expected failures (I/O, corruption, not found, peer down) travel as
// values. Exceptions are kept for objects that cannot be built and broken
// invariants.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace cv {

enum class Code : uint8_t {
  kOk = 0,
  kNotFound,
  kInvalidArgument,
  kIoError,
  kCorrupt,
  kTimeout,
  kPeerDown,
  kFull,
  kStale,
  kBusy,
  kInternal,
};

const char* code_name(Code c);

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  static Status not_found(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status invalid(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status io_error(std::string m) { return {Code::kIoError, std::move(m)}; }
  // Corruption carries the byte offset where the reader found it.
  static Status corrupt(std::string m, uint64_t offset) {
    Status s{Code::kCorrupt, std::move(m)};
    s.offset_ = offset;
    return s;
  }
  static Status timeout(std::string m) { return {Code::kTimeout, std::move(m)}; }
  static Status peer_down(std::string m) { return {Code::kPeerDown, std::move(m)}; }
  static Status full(std::string m) { return {Code::kFull, std::move(m)}; }
  static Status busy(std::string m) { return {Code::kBusy, std::move(m)}; }
  static Status internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  uint64_t offset() const { return offset_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
  uint64_t offset_ = 0;
};

// errno_status names the failed call and the thing it acted on:
// "open /x/y: No such file or directory".
Status errno_status(const std::string& call, const std::string& what, int err);

}  // namespace cv
