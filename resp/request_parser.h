// RequestParser: splits a connection's input into Redis commands, RESP
// multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or inline (`PING\r\n`), as
// Redis's networking.c reads them. It keeps no state between calls: the
// caller appends what arrives and calls parse() again; a partial command is
// left in the buffer (kPending). Limits fixed at construction bound what a
// peer can make the caller buffer: a declared array, bulk or request larger
// than a limit is an error as soon as its header is read, never allocated.
// Thread-compatible (one per connection).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cv::resp {

struct ParserLimits {
  size_t max_array_len = 1024 * 1024;        // arguments per command
  size_t max_bulk_len = 64ull << 20;         // bytes per argument
  size_t max_request_bytes = 256ull << 20;   // bytes of one whole command
  size_t max_inline_len = 64 * 1024;         // inline command / header line
};

enum class ParseResult {
  kOk,                // one command in *args; *consumed bytes used
  kEmpty,             // *consumed bytes held no command (empty line, `*0`)
  kPending,           // more input needed; nothing consumed
  kBadArrayLen,       // protocol errors: reply error_text(), then close
  kBadBulkLen,
  kExpectedBulk,
  kTooBigCount,       // a header line with no end within max_inline_len
  kTooBigInline,
  kUnbalancedQuotes,
  kTooBigRequest,
};

class RequestParser {
 public:
  explicit RequestParser(const ParserLimits& limits = {}) : limits_(limits) {}

  // Reads one command from the front of `in`. On kOk, *args views point
  // into `in` (or into this parser, for an unquoted inline argument) and
  // stay valid until the next call or until `in` changes.
  ParseResult parse(std::string_view in, size_t* consumed, std::vector<std::string_view>* args);
  // On kPending: how many bytes the buffer must hold for the command
  // under way to be complete, if a bulk header said so (else 0).
  size_t wanted() const { return wanted_; }
  // The Redis error text for a protocol error (without the leading '-').
  std::string error_text(ParseResult r, std::string_view in) const;

  const ParserLimits& limits() const { return limits_; }

 private:
  ParseResult parse_inline(std::string_view in, size_t* consumed, std::vector<std::string_view>* args);
  ParseResult parse_multibulk(std::string_view in, size_t* consumed, std::vector<std::string_view>* args);

  const ParserLimits limits_;
  size_t wanted_ = 0;
  char bad_byte_ = 0;  // the byte found where '$' was expected
  std::vector<std::string> inline_args_;
};

}  // namespace cv::resp
