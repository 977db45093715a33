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

// What compare_prefixed() returns when only the bytes past the prefixes
// can tell the keys apart.
inline constexpr int kCompareTails = 2;

// Bytewise order of two keys from their prefixes and lengths alone: <0, 0,
// >0, or kCompareTails when both are longer than the prefix and agree on it.
inline int compare_prefixed(const KeyPrefix& pa, size_t alen, const KeyPrefix& pb, size_t blen) {
  if (pa.word[0] != pb.word[0]) return pa.word[0] < pb.word[0] ? -1 : 1;
  if (pa.word[1] != pb.word[1]) return pa.word[1] < pb.word[1] ? -1 : 1;
  if (alen > kKeyPrefixBytes && blen > kKeyPrefixBytes) return kCompareTails;
  return alen == blen ? 0 : (alen < blen ? -1 : 1);
}

// Bytewise order of keys a and b, whose prefixes pa and pb are: <0, 0, >0.
inline int compare_keys(const KeyPrefix& pa, std::string_view a, const KeyPrefix& pb, std::string_view b) {
  const int c = compare_prefixed(pa, a.size(), pb, b.size());
  return c != kCompareTails ? c : a.substr(kKeyPrefixBytes).compare(b.substr(kKeyPrefixBytes));
}

}  // namespace cv::shm
