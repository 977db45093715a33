// Evaluation of the front end's read-modify-write records at the primary.
#include "node/write_ops.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "node/distribution.h"
#include "shm/expiry.h"

namespace cv::node {

using shm::RecOp;
using shm::RecStatus;
using shm::WireRecord;

bool parse_int64(std::string_view s, int64_t* out) {
  // As Redis's string2ll: optional '-', digits, no leading zero, no spaces.
  if (s.empty() || s.size() > 20) return false;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-') {
    neg = true;
    if (++i == s.size()) return false;
  }
  if (s[i] == '0') {
    if (s.size() == 1) {
      *out = 0;
      return true;
    }
    return false;
  }
  unsigned long long v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    const unsigned d = unsigned(s[i] - '0');
    if (v > (ULLONG_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (neg) {
    if (v > (unsigned long long)(INT64_MAX) + 1) return false;
    *out = v == (unsigned long long)(INT64_MAX) + 1 ? INT64_MIN : -int64_t(v);
  } else {
    if (v > (unsigned long long)INT64_MAX) return false;
    *out = int64_t(v);
  }
  return true;
}

bool parse_long_double(std::string_view s, long double* out) {
  // As Redis's string2ld: the whole string, no leading space, not NaN.
  if (s.empty() || s.size() > 5000 || std::isspace((unsigned char)s[0])) return false;
  std::string z(s);
  char* end = nullptr;
  errno = 0;
  const long double v = std::strtold(z.c_str(), &end);
  if (end != z.c_str() + z.size() || std::isnan(v) || (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0)))
    return false;
  *out = v;
  return true;
}

std::string format_long_double(long double v) {
  // Redis's ld2string in human mode: 17 decimals, trailing zeros dropped.
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[5200];
  int n = std::snprintf(buf, sizeof buf, "%.17Lf", v);
  if (n <= 0 || size_t(n) >= sizeof buf) return "0";
  std::string s(buf, size_t(n));
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

size_t msetnx_bytes(const std::vector<std::pair<std::string_view, std::string_view>>& pairs) {
  size_t n = 0;
  for (const auto& [k, v] : pairs) n += sizeof(shm::MSetNxPair) + k.size() + v.size();
  return n;
}

std::string encode_msetnx(const std::vector<std::pair<std::string_view, std::string_view>>& pairs) {
  std::string out;
  out.reserve(msetnx_bytes(pairs));
  for (const auto& [k, v] : pairs) {
    const shm::MSetNxPair h{uint16_t(k.size()), 0, uint32_t(v.size())};
    out.append(reinterpret_cast<const char*>(&h), sizeof h);
    out.append(k);
    out.append(v);
  }
  return out;
}

bool decode_msetnx(std::string_view bytes, std::vector<std::pair<std::string_view, std::string_view>>* pairs) {
  pairs->clear();
  while (!bytes.empty()) {
    if (bytes.size() < sizeof(shm::MSetNxPair)) return false;
    shm::MSetNxPair h;
    std::memcpy(&h, bytes.data(), sizeof h);
    bytes.remove_prefix(sizeof h);
    if (h.key_len == 0 || h.key_len > shm::kMaxKeyBytes || h.value_len > shm::kMaxValueBytes ||
        bytes.size() < size_t(h.key_len) + h.value_len)
      return false;
    pairs->emplace_back(bytes.substr(0, h.key_len), bytes.substr(h.key_len, h.value_len));
    bytes.remove_prefix(size_t(h.key_len) + h.value_len);
  }
  return !pairs->empty();
}

namespace {

// A key's state as the batch's evaluation sees it: value and expiry.
struct Held {
  std::string value;
  uint64_t expire_ms = 0;
};

// EXPIRE / PEXPIRE / ...AT, PERSIST and GETEX against the value held, as
// Redis's expireGenericCommand, persistCommand and getexCommand decide:
// sets *write to the key's new state when it changes.
void evaluate_expire(const WireRecord& r, std::string_view arg, const std::optional<Held>& cur, uint64_t now_ms,
                     ValueReply* rep, std::optional<std::optional<Held>>* write) {
  const bool get_value = r.aux & shm::kExpGetValue;
  if (!cur) {
    rep->status = RecStatus::kNotFound;  // nil, or 0
    return;
  }
  if (r.aux & shm::kExpBadArgument) {
    // GETEX checks its expiry only once it found the key.
    rep->status = RecStatus::kBadRequest;
    rep->value = std::string(arg);
    return;
  }
  if (r.aux & shm::kExpPersist) {
    rep->value = get_value ? cur->value : cur->expire_ms ? "1" : "0";
    if (cur->expire_ms) *write = std::optional<Held>(Held{cur->value, 0});
    return;
  }
  int64_t when = 0;
  if (!parse_int64(arg, &when)) {
    rep->status = RecStatus::kBadRequest;
    rep->value = "ERR value is not an integer or out of range";
    return;
  }
  if (!get_value) {
    const int64_t current = cur->expire_ms ? int64_t(cur->expire_ms) : -1;
    const bool refused = ((r.aux & shm::kExpNx) && current != -1) || ((r.aux & shm::kExpXx) && current == -1) ||
                         ((r.aux & shm::kExpGt) && (when <= current || current == -1)) ||
                         ((r.aux & shm::kExpLt) && current != -1 && when >= current);
    if (refused) {
      rep->value = "0";
      return;
    }
  }
  rep->value = get_value ? cur->value : "1";
  if (when <= int64_t(now_ms)) *write = std::optional<Held>();  // a time gone by deletes the key
  else *write = std::optional<Held>(Held{cur->value, uint64_t(when)});
}

}  // namespace

bool evaluate_write_ops(const RecordStore& store, std::string_view payload,
                        const std::function<bool(uint32_t partition)>& is_primary, std::string* out,
                        std::vector<ValueReply>* replies) {
  shm::BatchReader rd(payload);
  if (!rd.ok()) return false;
  shm::BatchBuilder b(shm::WriteMode(rd.header().mode), shm::Policy(rd.header().policy), rd.header().tag);
  b.set_epoch(rd.header().epoch);
  // Keys as the batch's earlier records left them (nullopt: deleted).
  std::unordered_map<std::string, std::optional<Held>> overlay;
  replies->clear();
  WireRecord r;
  std::string_view key, value;
  const uint32_t partitions = store.partitions();
  const uint64_t now_ms = shm::wall_ms();
  while (rd.next(&r, &key, &value)) {
    ValueReply rep;
    rep.index = r.index;
    if (key.empty() || key.size() > shm::kMaxKeyBytes || value.size() > shm::kMaxValueBytes) {
      rep.status = RecStatus::kBadRequest;
      rep.value = "ERR key or value of a size cachevault does not store";
      replies->push_back(std::move(rep));
      continue;
    }
    const uint32_t p = partition_of(key, partitions);
    if (!is_primary(p)) {
      rep.status = RecStatus::kWrongNode;
      replies->push_back(std::move(rep));
      continue;
    }
    // An expired record is no record: the key is absent.
    const auto held = [&](std::string_view k) {
      std::optional<Held> h;
      if (auto it = overlay.find(std::string(k)); it != overlay.end()) {
        h = it->second;
      } else if (auto rec = store.get(p, k); rec && !rec->tombstone) {
        h = Held{std::move(rec->value), rec->expire_ms};
      }
      if (h && shm::is_expired(h->expire_ms, now_ms)) h.reset();
      return h;
    };
    if (RecOp(r.op) == RecOp::kMSetNx) {
      // Every key is checked before any is set (Redis's msetGenericCommand
      // with nx): all or nothing, as one step of the request loop.
      std::vector<std::pair<std::string_view, std::string_view>> pairs;
      bool valid = decode_msetnx(value, &pairs);
      for (size_t i = 0; valid && i < pairs.size(); ++i) valid = partition_of(pairs[i].first, partitions) == p;
      if (!valid) {
        rep.status = RecStatus::kBadRequest;
        rep.value = "ERR malformed MSETNX record";
      } else if (std::any_of(pairs.begin(), pairs.end(), [&](const auto& kv) { return held(kv.first).has_value(); })) {
        rep.status = RecStatus::kNotFound;  // 0: nothing set
      } else {
        rep.value = "1";
        for (const auto& [k, v] : pairs) {
          // Each becomes a plain put with the request's index; the reply
          // takes the worst of their write statuses.
          WireRecord w{};
          w.key_len = uint16_t(k.size());
          w.op = uint8_t(RecOp::kPut);
          w.index = r.index;
          w.value_len = uint32_t(v.size());
          b.add(w, k, v);
          overlay[std::string(k)] = std::optional<Held>(Held{std::string(v), 0});
        }
        rep.writes = true;
      }
      replies->push_back(std::move(rep));
      continue;
    }
    std::optional<Held> cur = held(key);
    const uint64_t kept_expiry = cur ? cur->expire_ms : 0;
    std::optional<std::optional<Held>> write;  // set: the record's new state
    switch (RecOp(r.op)) {
      case RecOp::kPut: write = std::optional<Held>(Held{std::string(value), r.expire_ms}); break;
      case RecOp::kDelete: write = std::optional<Held>(); break;
      case RecOp::kSetCond: {
        const bool allowed = !((r.aux & shm::kCondNx) && cur) && !((r.aux & shm::kCondXx) && !cur);
        const uint64_t expiry = (r.aux & shm::kCondKeepTtl) ? kept_expiry : r.expire_ms;
        if (allowed) write = std::optional<Held>(Held{std::string(value), expiry});
        if (r.aux & shm::kCondGet) {
          if (cur) rep.value = cur->value;
          else rep.status = RecStatus::kNotFound;
        } else if (!allowed) {
          rep.status = RecStatus::kNotFound;
        }
        break;
      }
      case RecOp::kDeleteCount:
        if (!cur) {
          rep.status = RecStatus::kNotFound;
        } else {
          write = std::optional<Held>();
          rep.value = (r.aux & shm::kCondGet) ? cur->value : "1";
        }
        break;
      case RecOp::kIncrBy: {
        int64_t held = 0, delta = 0;
        if ((cur && !parse_int64(cur->value, &held)) || !parse_int64(value, &delta)) {
          rep.status = RecStatus::kBadRequest;
          rep.value = "ERR value is not an integer or out of range";
        } else if ((delta > 0 && held > INT64_MAX - delta) || (delta < 0 && held < INT64_MIN - delta)) {
          rep.status = RecStatus::kBadRequest;
          rep.value = "ERR increment or decrement would overflow";
        } else {
          rep.value = std::to_string(held + delta);
          write = std::optional<Held>(Held{rep.value, kept_expiry});  // as Redis, INCR keeps the TTL
        }
        break;
      }
      case RecOp::kIncrByFloat: {
        long double held = 0, delta = 0;
        if ((cur && !parse_long_double(cur->value, &held)) || !parse_long_double(value, &delta)) {
          rep.status = RecStatus::kBadRequest;
          rep.value = "ERR value is not a valid float";
        } else if (const long double sum = held + delta; std::isnan(sum) || std::isinf(sum)) {
          rep.status = RecStatus::kBadRequest;
          rep.value = "ERR increment would produce NaN or Infinity";
        } else {
          rep.value = format_long_double(sum);
          write = std::optional<Held>(Held{rep.value, kept_expiry});
        }
        break;
      }
      case RecOp::kAppend: {
        const size_t len = (cur ? cur->value.size() : 0) + value.size();
        if (len > shm::kMaxValueBytes) {
          rep.status = RecStatus::kBadRequest;
          rep.value = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
        } else {
          std::string v = cur ? cur->value : std::string();
          v.append(value);
          rep.value = std::to_string(v.size());
          write = std::optional<Held>(Held{std::move(v), kept_expiry});
        }
        break;
      }
      case RecOp::kSetRange: {
        // Redis's setrangeCommand: nothing to write answers the length
        // held (0 and no key for a missing one).
        const size_t offset = r.aux;
        if (value.empty()) {
          rep.value = std::to_string(cur ? cur->value.size() : 0);
        } else if (offset > shm::kMaxValueBytes || value.size() > shm::kMaxValueBytes - offset) {
          rep.status = RecStatus::kBadRequest;
          rep.value = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
        } else {
          std::string v = cur ? cur->value : std::string();
          if (v.size() < offset + value.size()) v.resize(offset + value.size(), '\0');
          v.replace(offset, value.size(), value);
          rep.value = std::to_string(v.size());
          write = std::optional<Held>(Held{std::move(v), kept_expiry});  // as Redis, the TTL stays
        }
        break;
      }
      case RecOp::kExpire: evaluate_expire(r, value, cur, now_ms, &rep, &write); break;
      default:
        rep.status = RecStatus::kBadRequest;
        rep.value = "ERR unknown write operation";
        break;
    }
    if (write) {
      WireRecord w{};
      w.key_len = uint16_t(key.size());
      w.op = uint8_t(*write ? RecOp::kPut : RecOp::kDelete);
      w.index = r.index;
      w.value_len = *write ? uint32_t((*write)->value.size()) : 0;
      w.expire_ms = *write ? (*write)->expire_ms : 0;
      b.add(w, key, *write ? std::string_view((*write)->value) : std::string_view());
      overlay[std::string(key)] = std::move(*write);
      rep.writes = true;
    }
    replies->push_back(std::move(rep));
  }
  if (!rd.ok()) return false;
  out->assign(b.finish());
  return true;
}

std::string encode_value_replies(const std::vector<ValueReply>& replies, const std::vector<shm::WireResult>& written) {
  // Records of one request (MSETNX's puts) share its index: the first
  // failure among them answers for it.
  std::unordered_map<uint32_t, RecStatus> write_status;
  for (const auto& w : written) {
    auto [it, added] = write_status.emplace(w.index, RecStatus(w.status));
    if (!added && (it->second == RecStatus::kOk || it->second == RecStatus::kStale)) it->second = RecStatus(w.status);
  }
  shm::BatchBuilder out;
  for (const auto& rep : replies) {
    RecStatus st = rep.status;
    if (rep.writes) {
      auto it = write_status.find(rep.index);
      const RecStatus ws = it == write_status.end() ? RecStatus::kTimeout : it->second;
      if (ws != RecStatus::kOk && ws != RecStatus::kStale) st = ws;
    }
    WireRecord o{};
    o.index = rep.index;
    o.status = uint8_t(st);
    o.value_len = uint32_t(rep.value.size());
    out.add(o, {}, rep.value);
  }
  return std::string(out.finish());
}

}  // namespace cv::node
