// Record expiry: an absolute time in ms since the Unix epoch carried with a
// record's version (0: none). Every process of a cluster runs on one host and
// reads the same CLOCK_REALTIME, so every replica, client and target hides a
// record at the same instant without telling each other. As in Redis, a
// record is gone once the clock has passed its expiry (a record whose expiry
// is this very millisecond is still there); a command that sets an expiry
// at or before now deletes instead.
#pragma once

#include <cstdint>

#include "shm/clock.h"

namespace cv::shm {

inline uint64_t wall_ms() { return wall_ns() / 1'000'000ull; }

inline bool is_expired(uint64_t expire_ms, uint64_t now_ms) { return expire_ms != 0 && now_ms > expire_ms; }

}  // namespace cv::shm
