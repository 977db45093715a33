// The data commands of the CLI: put, get, del, load, scan, status. Each
// returns the process exit code (CLI.md: 0 ok, 1 runtime failure, 2 usage).
#pragma once

#include <cstdint>
#include <string>

namespace cv::client {

// put and del print {"key", "version"} (put adds "bytes") under json.
int cmd_put(const std::string& cluster, const std::string& key, const std::string& value, bool json = false);
// put with the value read from a file ("-" = standard input).
int cmd_put_file(const std::string& cluster, const std::string& key, const std::string& path, bool json = false);
int cmd_del(const std::string& cluster, const std::string& key, bool json = false);

struct GetOptions {
  bool raw = false;   // never add a newline, even on a terminal
  bool json = false;  // print the record shaped like a scan --json line
};
// Prints the value byte for byte (a newline only on a terminal); exit 1 if absent.
int cmd_get(const std::string& cluster, const std::string& key, const GetOptions& o = {});

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
  bool quiet = false;     // no progress display
};
int cmd_load(const std::string& cluster, const LoadOptions& o);

int cmd_scan(const std::string& cluster, bool json);
int cmd_status(const std::string& cluster, bool json);
// status redrawn every second until interrupted (or `count` times if > 0).
int cmd_status_watch(const std::string& cluster, int count);

// Prints "cachevault: <message>" on stderr and returns the exit code for a
// failed connection or request (1).
int fail(const std::string& message);

}  // namespace cv::client
