// libFuzzer target for RequestParser: any byte stream, fed in pieces of any
// size, must give commands or an error, never a crash, a hang, a view past
// the input, or a wait for more bytes than the limits allow.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// Compiled in so that the parser is instrumented (cv_resp is not).
#include "resp/request_parser.cc"  // NOLINT(bugprone-suspicious-include)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  cv::resp::ParserLimits limits;
  limits.max_array_len = 64;
  limits.max_bulk_len = 4096;
  limits.max_request_bytes = 16384;
  limits.max_inline_len = 256;
  cv::resp::RequestParser parser(limits);
  // The first byte picks the size of the pieces the rest arrives in.
  const size_t piece = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string buf;
  std::vector<std::string_view> args;
  size_t fed = 0;
  while (true) {
    size_t consumed = 0;
    const auto r = parser.parse(buf, &consumed, &args);
    if (r == cv::resp::ParseResult::kOk || r == cv::resp::ParseResult::kEmpty) {
      if (consumed == 0 || consumed > buf.size()) __builtin_trap();
      // Multibulk arguments are views into the command's own bytes.
      if (buf[0] == '*')
        for (auto a : args)
          if (a.data() < buf.data() || a.data() + a.size() > buf.data() + consumed) __builtin_trap();
      if (r == cv::resp::ParseResult::kOk && (args.empty() || args.size() > limits.max_array_len)) __builtin_trap();
      buf.erase(0, consumed);
      continue;
    }
    if (r != cv::resp::ParseResult::kPending) return 0;  // protocol error: connection closes
    // Pending: the buffer never holds more than one command's bound.
    if (buf.size() > limits.max_request_bytes + limits.max_inline_len + 64) __builtin_trap();
    if (fed >= input.size()) return 0;
    const size_t n = std::min(piece, input.size() - fed);
    buf.append(input.substr(fed, n));
    fed += n;
  }
}
