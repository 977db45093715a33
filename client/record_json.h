// One record as one JSON line, the shape `scan --json` and
// `inspect --records` print: {"key":...,"value":...,"version":N,"timestamp":N}.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cv::client {

// True if s is well-formed UTF-8 (no overlong forms, no surrogates, nothing
// above U+10FFFF).
bool is_utf8(std::string_view s);

// Appends s to *out as base64 (RFC 4648, with padding).
void append_base64(std::string_view s, std::string* out);

// Appends one record line without the trailing newline. A key or value that
// is not UTF-8 becomes {"base64":"..."}. A tombstone (only found in node
// copies) gets an extra "tombstone":true, a record with an expiry an extra
// "expire_ms" (ms since the Unix epoch). Reuse *out to avoid allocating.
void append_record_json_line(std::string* out, std::string_view key, std::string_view value,
                             uint64_t version, uint64_t timestamp, bool tombstone = false, uint64_t expire_ms = 0);

// The same, as a fresh string (no trailing newline).
std::string record_json_line(std::string_view key, std::string_view value, uint64_t version,
                             uint64_t timestamp, bool tombstone = false, uint64_t expire_ms = 0);

// A key or value as a JSON value: a string if UTF-8, else {"base64":"..."}.
void append_json_bytes(std::string_view s, std::string* out);

}  // namespace cv::client
