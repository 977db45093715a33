// Keys as two big-endian 64-bit words of their first 16 bytes, zero-padded:
// comparing the words compares the keys bytewise, so sorts and merges settle
// most comparisons without touching key bytes. Past equal words, a key of
// at most 16 bytes is the shorter one or equal in full.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace cv::shm {

inline constexpr size_t kKeyPrefixBytes = 16;

// Eight key bytes from `from`, big-endian, zero-padded past the end.
inline uint64_t key_prefix_word(std::string_view k, size_t from) {
  unsigned char b[8] = {};
  if (from < k.size()) std::memcpy(b, k.data() + from, k.size() - from < 8 ? k.size() - from : 8);
  uint64_t v;
  std::memcpy(&v, b, 8);
  return __builtin_bswap64(v);
}

struct KeyPrefix {
  uint64_t word[2] = {0, 0};

  static KeyPrefix of(std::string_view k) { return {{key_prefix_word(k, 0), key_prefix_word(k, 8)}}; }
};

// Bytewise order of keys a and b, whose prefixes pa and pb are: <0, 0, >0.
inline int compare_keys(const KeyPrefix& pa, std::string_view a, const KeyPrefix& pb, std::string_view b) {
  if (pa.word[0] != pb.word[0]) return pa.word[0] < pb.word[0] ? -1 : 1;
  if (pa.word[1] != pb.word[1]) return pa.word[1] < pb.word[1] ? -1 : 1;
  if (a.size() <= kKeyPrefixBytes || b.size() <= kKeyPrefixBytes)
    return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
  return a.substr(kKeyPrefixBytes).compare(b.substr(kKeyPrefixBytes));
}

}  // namespace cv::shm
