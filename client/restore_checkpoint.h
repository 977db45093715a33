// The restore checkpoint: a side file holding how far a restore got (every
// record before `position` is stored) and its failed-record list, so that
// `restore --resume` continues without sending the file from the start.
// A checkpoint counts only for the cluster incarnation it was written
// against (a cluster of the same name started again is another one: it
// holds none of the records the first had taken).
// Written atomically (shm::write_file_atomic: temp, fsync, rename, fsync
// dir). Layout, little-endian:
//   magic "CVRCKPT2" | file checksum u64 | backup id u64 |
//   cluster start time ns u64 | launcher pid u64 | position u64 |
//   failed count u64 | failed records: key len u16, value len u32,
//   version u64, timestamp u64, op u8, key, value | XXH3-64 of all before.
// A version 1 checkpoint ("CVRCKPT1", without the incarnation) reads as
// belonging to no incarnation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "client/write_pipeline.h"
#include "shm/file_env.h"
#include "shm/status.h"

namespace cv::client {

inline constexpr uint64_t kCheckpointMagicV1 = 0x3154504b43524356ull;  // "CVRCKPT1"
inline constexpr uint64_t kCheckpointMagicV2 = 0x3254504b43524356ull;  // "CVRCKPT2"
// Version 3: each failed record also carries its expiry.
inline constexpr uint64_t kCheckpointMagic = 0x3354504b43524356ull;    // "CVRCKPT3"

// Which run of a cluster: its block's start time and launcher pid.
struct ClusterIncarnation {
  uint64_t start_time_ns = 0;
  uint64_t launcher_pid = 0;
  bool operator==(const ClusterIncarnation&) const = default;
};

struct RestoreCheckpoint {
  uint64_t file_checksum = 0;
  uint64_t backup_id = 0;
  ClusterIncarnation cluster;
  uint64_t position = 0;
  std::vector<OwnedRecord> failed;
};

Status write_checkpoint(const std::string& path, const RestoreCheckpoint& c,
                        shm::FileEnv& env = shm::FileEnv::real());
// kNotFound if there is none; kCorrupt if it is damaged.
Status read_checkpoint(const std::string& path, RestoreCheckpoint* c);

}  // namespace cv::client
