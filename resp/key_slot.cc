// CRC16 and hash-tag extraction for Redis Cluster key slots.
#include "resp/key_slot.h"

#include <array>

namespace cv::resp {
namespace {

constexpr std::array<uint16_t, 256> make_table() {
  std::array<uint16_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint16_t c = uint16_t(i << 8);
    for (int b = 0; b < 8; ++b) c = (c & 0x8000) ? uint16_t((c << 1) ^ 0x1021) : uint16_t(c << 1);
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint16_t, 256> kTable = make_table();

}  // namespace

uint16_t crc16(std::string_view bytes) {
  uint16_t crc = 0;
  for (unsigned char c : bytes) crc = uint16_t((crc << 8) ^ kTable[((crc >> 8) ^ c) & 0xff]);
  return crc;
}

uint32_t key_slot(std::string_view key) {
  const size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return crc16(key) & (kSlotCount - 1);
}

}  // namespace cv::resp
