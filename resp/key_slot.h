// Redis Cluster key slots: CRC16 (XMODEM) of the key, or of its {hash tag},
// modulo 16,384, as in the Redis Cluster specification.
#pragma once

#include <cstdint>
#include <string_view>

namespace cv::resp {

inline constexpr uint32_t kSlotCount = 16384;

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), as Redis computes it.
uint16_t crc16(std::string_view bytes);

// The slot of a key: if the key has a '{' followed later by a '}' with at
// least one byte between them, only the bytes between the first '{' and the
// first '}' after it are hashed.
uint32_t key_slot(std::string_view key);

}  // namespace cv::resp
