// The data commands of the CLI: put, get, del, load, scan, status. Each
// returns the process exit code (CLI.md: 0 ok, 1 runtime failure, 2 usage).
#pragma once

#include <cstdint>
#include <string>

namespace cv::client {

int cmd_put(const std::string& cluster, const std::string& key, const std::string& value);
// put with the value read from a file ("-" = standard input).
int cmd_put_file(const std::string& cluster, const std::string& key, const std::string& path);
int cmd_get(const std::string& cluster, const std::string& key);
int cmd_del(const std::string& cluster, const std::string& key);

struct LoadOptions {
  uint64_t records = 0;
  uint64_t value_size = 100;
  uint64_t seed = 1;
  std::string key_prefix = "key-";
  std::string ack_log;
  double duration_s = 0;  // > 0: keep rewriting the records until it passes
  int window = 8;
  bool latency = false;   // report write latency (max, p99) in the summary
  bool json = false;
};
int cmd_load(const std::string& cluster, const LoadOptions& o);

int cmd_scan(const std::string& cluster, bool json);
int cmd_status(const std::string& cluster, bool json);

// Prints "cachevault: <message>" on stderr and returns the exit code for a
// failed connection or request (1).
int fail(const std::string& message);

}  // namespace cv::client
