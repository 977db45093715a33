// RequestParser: RESP multibulk and inline requests, with Redis's limits
// and error texts (networking.c processMultibulkBuffer / processInlineBuffer).
#include "resp/request_parser.h"

#include <charconv>
#include <cstring>

namespace cv::resp {
namespace {

// A whole decimal integer, optionally negative, nothing else; false on
// overflow or junk (Redis's string2ll).
bool parse_int(std::string_view s, long long* out) {
  if (s.empty() || s.size() > 20) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && !(s.size() > 1 && s[0] == '0') && s[0] != '+';
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits an inline line into arguments as Redis's sdssplitargs does:
// whitespace separates, "double quotes" take \n \r \t \b \a \\ \" \xHH,
// 'single quotes' take \'; a closing quote must be followed by a space.
bool split_args(std::string_view line, std::vector<std::string>* out) {
  out->clear();
  size_t i = 0;
  const size_t n = line.size();
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  while (true) {
    while (i < n && space(line[i])) ++i;
    if (i >= n) return true;
    std::string cur;
    bool dq = false, sq = false, done = false;
    while (!done) {
      if (dq) {
        if (i >= n) return false;
        if (line[i] == '\\' && i + 3 < n && line[i + 1] == 'x' && hex_digit(line[i + 2]) >= 0 &&
            hex_digit(line[i + 3]) >= 0) {
          cur.push_back(char(hex_digit(line[i + 2]) * 16 + hex_digit(line[i + 3])));
          i += 3;
        } else if (line[i] == '\\' && i + 1 < n) {
          ++i;
          char c = line[i];
          switch (c) {
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'b': c = '\b'; break;
            case 'a': c = '\a'; break;
            default: break;
          }
          cur.push_back(c);
        } else if (line[i] == '"') {
          if (i + 1 < n && !space(line[i + 1])) return false;
          done = true;
        } else {
          cur.push_back(line[i]);
        }
      } else if (sq) {
        if (i >= n) return false;
        if (line[i] == '\\' && i + 1 < n && line[i + 1] == '\'') {
          ++i;
          cur.push_back('\'');
        } else if (line[i] == '\'') {
          if (i + 1 < n && !space(line[i + 1])) return false;
          done = true;
        } else {
          cur.push_back(line[i]);
        }
      } else {
        if (i >= n) {
          done = true;
          break;
        }
        const char c = line[i];
        if (space(c)) {
          done = true;
        } else if (c == '"') {
          dq = true;
        } else if (c == '\'') {
          sq = true;
        } else {
          cur.push_back(c);
        }
      }
      if (i < n) ++i;
    }
    out->push_back(std::move(cur));
  }
}

}  // namespace

ParseResult RequestParser::parse(std::string_view in, size_t* consumed, std::vector<std::string_view>* args) {
  *consumed = 0;
  wanted_ = 0;
  args->clear();
  if (in.empty()) return ParseResult::kPending;
  return in[0] == '*' ? parse_multibulk(in, consumed, args) : parse_inline(in, consumed, args);
}

ParseResult RequestParser::parse_inline(std::string_view in, size_t* consumed, std::vector<std::string_view>* args) {
  const size_t nl = in.find('\n');
  if (nl == std::string_view::npos) {
    return in.size() > limits_.max_inline_len ? ParseResult::kTooBigInline : ParseResult::kPending;
  }
  if (nl > limits_.max_inline_len) return ParseResult::kTooBigInline;
  std::string_view line = in.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!split_args(line, &inline_args_)) return ParseResult::kUnbalancedQuotes;
  *consumed = nl + 1;
  if (inline_args_.empty()) return ParseResult::kEmpty;
  if (inline_args_.size() > limits_.max_array_len) return ParseResult::kBadArrayLen;
  for (const auto& a : inline_args_) args->push_back(a);
  return ParseResult::kOk;
}

ParseResult RequestParser::parse_multibulk(std::string_view in, size_t* consumed,
                                           std::vector<std::string_view>* args) {
  // One header line: from pos to "\r\n"; the number after its first byte.
  size_t pos = 0;
  auto header = [&](long long* value, ParseResult* err) -> bool {
    const size_t cr = in.find('\r', pos);
    if (cr == std::string_view::npos || cr + 1 >= in.size()) {
      const size_t have = (cr == std::string_view::npos ? in.size() : cr) - pos;
      *err = have > limits_.max_inline_len ? ParseResult::kTooBigCount : ParseResult::kPending;
      return false;
    }
    if (cr - pos > limits_.max_inline_len) {
      *err = ParseResult::kTooBigCount;
      return false;
    }
    if (!parse_int(in.substr(pos + 1, cr - pos - 1), value)) *value = -2;  // junk: caller reports
    pos = cr + 2;
    return true;
  };
  ParseResult err = ParseResult::kPending;
  long long count = 0;
  if (!header(&count, &err)) return err;
  if (count == -2 || count > (long long)limits_.max_array_len) return ParseResult::kBadArrayLen;
  if (count <= 0) {
    *consumed = pos;
    return ParseResult::kEmpty;
  }
  size_t declared = pos;
  for (long long i = 0; i < count; ++i) {
    if (pos >= in.size()) return ParseResult::kPending;
    if (in[pos] != '$') {
      // Redis looks for the header line first, then at its first byte.
      if (in.find('\r', pos) == std::string_view::npos) {
        return in.size() - pos > limits_.max_inline_len ? ParseResult::kTooBigCount : ParseResult::kPending;
      }
      bad_byte_ = in[pos];
      return ParseResult::kExpectedBulk;
    }
    long long len = 0;
    if (!header(&len, &err)) return err == ParseResult::kTooBigCount ? ParseResult::kTooBigCount : err;
    if (len < 0 || size_t(len) > limits_.max_bulk_len) return ParseResult::kBadBulkLen;
    declared = pos + size_t(len) + 2;
    if (declared > limits_.max_request_bytes) return ParseResult::kTooBigRequest;
    if (in.size() < declared) {
      wanted_ = declared;
      return ParseResult::kPending;
    }
    args->emplace_back(in.data() + pos, size_t(len));
    pos = declared;  // Redis skips the two bytes after the data unchecked
  }
  *consumed = pos;
  return ParseResult::kOk;
}

std::string RequestParser::error_text(ParseResult r, std::string_view in) const {
  switch (r) {
    case ParseResult::kOk:
    case ParseResult::kEmpty:
    case ParseResult::kPending: return {};
    case ParseResult::kBadArrayLen: return "ERR Protocol error: invalid multibulk length";
    case ParseResult::kBadBulkLen: return "ERR Protocol error: invalid bulk length";
    case ParseResult::kExpectedBulk: return std::string("ERR Protocol error: expected '$', got '") + bad_byte_ + "'";
    case ParseResult::kTooBigCount: return "ERR Protocol error: too big mbulk count string";
    case ParseResult::kTooBigInline: return "ERR Protocol error: too big inline request";
    case ParseResult::kUnbalancedQuotes: return "ERR Protocol error: unbalanced quotes in request";
    case ParseResult::kTooBigRequest: return "ERR Protocol error: request larger than " +
                                             std::to_string(limits_.max_request_bytes) + " bytes";
  }
  return "ERR Protocol error";
}

}  // namespace cv::resp
