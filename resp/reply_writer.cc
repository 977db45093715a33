// ReplyWriter: RESP2 and RESP3 encodings.
#include "resp/reply_writer.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace cv::resp {

void ReplyWriter::header(char type, int64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out_->push_back(type);
  out_->append(buf, end);
  out_->append("\r\n", 2);
}

void ReplyWriter::simple(std::string_view s) {
  out_->push_back('+');
  // A simple string cannot hold a line break; Redis replaces them.
  for (char c : s) out_->push_back(c == '\r' || c == '\n' ? ' ' : c);
  out_->append("\r\n", 2);
}

void ReplyWriter::error(std::string_view s) {
  out_->push_back('-');
  for (char c : s) out_->push_back(c == '\r' || c == '\n' ? ' ' : c);
  out_->append("\r\n", 2);
}

void ReplyWriter::integer(int64_t v) { header(':', v); }

void ReplyWriter::bulk(std::string_view s) {
  header('$', int64_t(s.size()));
  out_->append(s);
  out_->append("\r\n", 2);
}

void ReplyWriter::null() {
  if (protocol_ >= 3) out_->append("_\r\n");
  else out_->append("$-1\r\n");
}

void ReplyWriter::null_array() {
  if (protocol_ >= 3) out_->append("_\r\n");
  else out_->append("*-1\r\n");
}

void ReplyWriter::array(size_t n) { header('*', int64_t(n)); }

void ReplyWriter::map(size_t n) {
  if (protocol_ >= 3) header('%', int64_t(n));
  else header('*', int64_t(2 * n));
}

void ReplyWriter::set(size_t n) { header(protocol_ >= 3 ? '~' : '*', int64_t(n)); }

void ReplyWriter::boolean(bool b) {
  if (protocol_ >= 3) out_->append(b ? "#t\r\n" : "#f\r\n");
  else integer(b ? 1 : 0);
}

void ReplyWriter::dbl(double d) {
  char buf[64];
  int n;
  if (std::isinf(d)) n = std::snprintf(buf, sizeof buf, "%s", d > 0 ? "inf" : "-inf");
  else n = std::snprintf(buf, sizeof buf, "%.17g", d);
  if (protocol_ >= 3) {
    out_->push_back(',');
    out_->append(buf, size_t(n));
    out_->append("\r\n", 2);
  } else {
    bulk(std::string_view(buf, size_t(n)));
  }
}

void ReplyWriter::verbatim(std::string_view s) {
  if (protocol_ < 3) return bulk(s);
  header('=', int64_t(s.size() + 4));
  out_->append("txt:");
  out_->append(s);
  out_->append("\r\n", 2);
}

}  // namespace cv::resp
