// The restore checkpoint: a side file holding how far a restore got (every
// record before `position` is stored) and its failed-record list, so that
// `restore --resume` continues without sending the file from the start.
// Written atomically (temp, fsync, rename). Layout, little-endian:
//   magic "CVRCKPT1" | file checksum u64 | backup id u64 | position u64 |
//   failed count u64 | failed records: key len u16, value len u32,
//   version u64, timestamp u64, op u8, key, value | XXH3-64 of all before.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "client/write_pipeline.h"
#include "shm/status.h"

namespace cv::client {

inline constexpr uint64_t kCheckpointMagic = 0x3154504b43524356ull;  // "CVRCKPT1"

struct RestoreCheckpoint {
  uint64_t file_checksum = 0;
  uint64_t backup_id = 0;
  uint64_t position = 0;
  std::vector<OwnedRecord> failed;
};

Status write_checkpoint(const std::string& path, const RestoreCheckpoint& c);
// kNotFound if there is none; kCorrupt if it is damaged.
Status read_checkpoint(const std::string& path, RestoreCheckpoint* c);

}  // namespace cv::client
