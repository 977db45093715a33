// ReplyWriter: appends Redis replies to a buffer in RESP2 or RESP3, chosen
// per connection (HELLO 3 switches). It only writes: what to answer is the
// caller's. RESP3-only types fall back to their RESP2 forms (a map is an
// array of 2n items, a double a bulk string, null "$-1").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cv::resp {

class ReplyWriter {
 public:
  explicit ReplyWriter(std::string* out, int protocol = 2) : out_(out), protocol_(protocol) {}

  int protocol() const { return protocol_; }
  void set_protocol(int p) { protocol_ = p; }
  std::string* buffer() { return out_; }

  void simple(std::string_view s);   // +OK
  void error(std::string_view s);    // -ERR ...; s starts with the code
  void integer(int64_t v);           // :1
  void bulk(std::string_view s);     // $3 foo
  void null();                       // $-1 / _
  void null_array();                 // *-1 / _
  void array(size_t n);              // *n, n items follow
  void map(size_t n);                // %n / *2n, n key-value pairs follow
  void set(size_t n);                // ~n / *n
  void boolean(bool b);              // #t / :1
  void dbl(double d);                // ,1.5 / $3 1.5
  void verbatim(std::string_view s); // =txt: / bulk (INFO, CLIENT INFO)
  void ok() { simple("OK"); }

 private:
  void header(char type, int64_t n);
  std::string* out_;
  int protocol_;
};

}  // namespace cv::resp
