// ClusterOptions: what `cluster up` was asked for, checked and turned into
// the block's configuration. Every bad value is refused with a message that
// names the flag.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shm/block_layout.h"
#include "shm/status.h"

namespace cv::launcher {

struct ClusterOptions {
  std::string name = "default";
  int nodes = 3;
  int replicas = 2;
  int targets = 2;
  int partitions = 256;
  std::string weights;        // "1,1,1"; empty = all 1
  std::string dir;            // empty = ./cachevault-data/<name>
  std::string target_quota;   // "BYTES" or "BYTES,BYTES,..."; empty = unlimited
  std::string node_memory;    // "BYTES"; empty = unlimited
  bool detach = false;
  // Redis front ends (see CLI.md "Redis protocol").
  int port = 0;               // node i on port + i; 0 = free ports
  std::string requirepass;    // empty = no AUTH needed
  bool json = false;          // the caller prints the status object instead of the text line
};

// Parses "1048576", "64K", "512M", "2G", "1GiB", "10MB" (binary multiples,
// CLI11's AsSizeValue).
Status parse_bytes(const std::string& flag, const std::string& text, uint64_t* out);

// Checks every option and fills the block configuration (data dir absolute).
Status build_config(const ClusterOptions& o, shm::ClusterConfig* config);

}  // namespace cv::launcher
