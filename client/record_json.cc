// Record lines for scan and inspect, written by hand rather than through a
// JSON tree because scan prints millions of them.
#include "client/record_json.h"

#include <array>

namespace cv::client {
namespace {

// Length of the UTF-8 sequence starting at s[i], or 0 if it is malformed.
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  const auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(i + 1) >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(i + 1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;  // continuation byte, C0/C1 or F5..FF as a lead
}

// Appends s as a JSON string; s is valid UTF-8, so only quotes, backslashes
// and control characters need escaping.
void append_json_string(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t plain = 0;  // start of the run not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
    }
  }
  out->append(s.data() + plain, s.size() - plain);
  out->push_back('"');
}

}  // namespace

bool is_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void append_base64(std::string_view s, std::string* out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto byte = [&](size_t k) {
    return static_cast<uint32_t>(static_cast<unsigned char>(s[k]));
  };
  size_t i = 0;
  for (; i + 3 <= s.size(); i += 3) {
    const uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    const std::array<char, 4> q = {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63],
                                   kAlphabet[(v >> 6) & 63], kAlphabet[v & 63]};
    out->append(q.data(), q.size());
  }
  const size_t rest = s.size() - i;
  if (rest == 0) return;
  const uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
  out->push_back(kAlphabet[v >> 18]);
  out->push_back(kAlphabet[(v >> 12) & 63]);
  out->push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
  out->push_back('=');
}

void append_json_bytes(std::string_view s, std::string* out) {
  if (is_utf8(s)) {
    append_json_string(s, out);
    return;
  }
  out->append("{\"base64\":\"");
  append_base64(s, out);
  out->append("\"}");
}

void append_record_json_line(std::string* out, std::string_view key, std::string_view value,
                             uint64_t version, uint64_t timestamp, bool tombstone, uint64_t expire_ms) {
  out->append("{\"key\":");
  append_json_bytes(key, out);
  out->append(",\"value\":");
  append_json_bytes(value, out);
  out->append(",\"version\":");
  out->append(std::to_string(version));
  out->append(",\"timestamp\":");
  out->append(std::to_string(timestamp));
  if (tombstone) out->append(",\"tombstone\":true");
  if (expire_ms) {
    out->append(",\"expire_ms\":");
    out->append(std::to_string(expire_ms));
  }
  out->push_back('}');
}

std::string record_json_line(std::string_view key, std::string_view value, uint64_t version,
                             uint64_t timestamp, bool tombstone, uint64_t expire_ms) {
  std::string line;
  line.reserve(key.size() + value.size() + 64);
  append_record_json_line(&line, key, value, version, timestamp, tombstone, expire_ms);
  return line;
}

}  // namespace cv::client
