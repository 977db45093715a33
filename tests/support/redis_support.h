// Test support for the Redis protocol: running other programs (redis-cli,
// redis-benchmark, python3), a real redis-server to compare replies with,
// and a raw RESP connection for what clients never send (malformed input,
// deep pipelines).
#pragma once

#include <string>
#include <vector>

#include "tests/support/cli_runner.h"

namespace cv::test {

// Runs a program (found on PATH if not absolute), capturing its output.
CliResult run_program(const std::string& program, const std::vector<std::string>& args, int timeout_s = 120);

// The Redis port of serving node `id` from `status --json`.
int redis_port(TestCluster& c, int id);

// A real redis-server (not in cluster mode) on a Unix socket in a temp
// dir, without persistence; stopped in the destructor.
class RealRedis {
 public:
  RealRedis();
  ~RealRedis();
  bool ok() const { return pid_ > 0 && !socket_.empty(); }
  const std::string& socket() const { return socket_; }

 private:
  TempDir dir_;
  std::string socket_;
  int pid_ = -1;
};

// A blocking RESP connection with a deadline on every read.
class RespConn {
 public:
  static RespConn tcp(int port);
  static RespConn unix_socket(const std::string& path);
  RespConn(RespConn&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  ~RespConn();
  bool ok() const { return fd_ >= 0; }
  bool send(const std::string& bytes);
  // One whole reply, in its wire form ("" on timeout or close).
  std::string read_reply(int timeout_ms = 10000);
  // True if the peer closed the connection within the timeout.
  bool closed_by_peer(int timeout_ms = 10000);

 private:
  explicit RespConn(int fd) : fd_(fd) {}
  bool fill(int timeout_ms);
  // Length of the first complete reply in buf_, or 0.
  size_t complete(size_t pos) const;
  int fd_ = -1;
  std::string buf_;
};

// A command in RESP multibulk form.
std::string resp_command(const std::vector<std::string>& args);

}  // namespace cv::test
