// Command dispatch of the Redis front end, and the key and string commands:
// arity, AUTH and slot checks, then records queued for the node and the
// replies built from its answers.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "node/distribution.h"
#include "node/redis_service.h"
#include "node/write_ops.h"
#include "resp/key_slot.h"
#include "shm/clock.h"

namespace cv::node {

using resp::Cmd;
using shm::RecOp;
using shm::RecStatus;

namespace {

constexpr uint32_t kSetGet = 1;  // DeferredOp::flags: SET ... GET, GETSET
constexpr uint32_t kSetNxInt = 2;  // SETNX answers 1 / 0
constexpr uint32_t kObjectRefcount = 1;  // DeferredOp::flags of OBJECT: REFCOUNT (else ENCODING)

// Redis's OBJECT ENCODING of a string value, as tryObjectEncoding picks it
// for a value SET stores: "int" for one that reads back as a 64-bit integer,
// "embstr" up to 44 bytes, "raw" past that. (Redis keeps values that APPEND
// or SETRANGE made "raw" whatever they hold; cachevault keeps no such history.)
std::string_view string_encoding(std::string_view v) {
  int64_t n = 0;
  if (v.size() <= 20 && parse_int64(v, &n)) return "int";
  return v.size() <= 44 ? "embstr" : "raw";
}

// OBJECT REFCOUNT as Redis answers it with maxmemory-policy noeviction:
// integers 0 to 9999 are its shared objects (refcount INT_MAX), others 1.
int64_t string_refcount(std::string_view v) {
  int64_t n = 0;
  if (v.size() <= 20 && parse_int64(v, &n) && n >= 0 && n < 10000) return INT32_MAX;
  return 1;
}

// Redis's "invalid expire time in 'x' command", with the command's name.
std::string invalid_expire(std::string_view command) {
  return "ERR invalid expire time in '" + std::string(command) + "' command";
}

// An expiry argument of SET / SETEX / PSETEX / GETEX as Redis's
// getExpireMillisecondsOrReply reads it: an integer above 0 whose ms do
// not overflow; relative ones (EX, PX) count from now. On error, *error
// gets the reply.
bool expiry_argument(std::string_view arg, bool seconds, bool relative, std::string_view command, uint64_t* out,
                     std::string* error) {
  int64_t v = 0;
  if (!parse_int64(arg, &v)) {
    *error = "ERR value is not an integer or out of range";
    return false;
  }
  if (v <= 0 || (seconds && v > INT64_MAX / 1000)) {
    *error = invalid_expire(command);
    return false;
  }
  if (seconds) v *= 1000;
  if (relative) {
    const int64_t now = int64_t(shm::wall_ms());
    if (v > INT64_MAX - now) {
      *error = invalid_expire(command);
      return false;
    }
    v += now;
  }
  *out = uint64_t(v);
  return true;
}

// SET's and GETEX's expiry options (Redis's parseExtendedStringArgumentsOrReply).
struct ExpiryOptions {
  enum Unit { kNone, kEx, kPx, kExAt, kPxAt } unit = kNone;
  std::string_view arg;
  bool keepttl = false;
  bool persist = false;
  bool seconds() const { return unit == kEx || unit == kExAt; }
  bool relative() const { return unit == kEx || unit == kPx; }
};
// Takes option `o` (lower case) at a[i] if it is an expiry option allowed
// with those already given; false if it is not one.
bool take_expiry_option(const std::string& o, const std::vector<std::string_view>& a, size_t* i, bool for_set,
                        ExpiryOptions* x) {
  const bool has_next = *i + 1 < a.size();
  using U = ExpiryOptions::Unit;
  const auto only = [&](U u) { return (x->unit == U::kNone || x->unit == u) && !x->keepttl && !x->persist; };
  U u = U::kNone;
  if (o == "ex") u = U::kEx;
  else if (o == "px") u = U::kPx;
  else if (o == "exat") u = U::kExAt;
  else if (o == "pxat") u = U::kPxAt;
  if (u != U::kNone) {
    if (!only(u) || !has_next) return false;
    x->unit = u;
    x->arg = a[++*i];
    return true;
  }
  if (o == "keepttl" && for_set && x->unit == U::kNone && !x->persist) return x->keepttl = true;
  if (o == "persist" && !for_set && x->unit == U::kNone && !x->keepttl) return x->persist = true;
  return false;
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = char(std::tolower((unsigned char)c));
  return o;
}

// Redis's text for a command it does not know.
std::string unknown_command(const std::vector<std::string_view>& a) {
  // As Redis: each argument quoted, cut to what is left of 128 bytes
  // before its opening quote is counted.
  std::string args;
  for (size_t i = 1; i < a.size() && args.size() < 128; ++i) {
    const size_t room = 128 - args.size();
    args += "'";
    args.append(a[i].substr(0, room));
    args += "' ";
  }
  return "ERR unknown command '" + std::string(a[0].substr(0, 128)) + "', with args beginning with: " + args;
}

constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";

// GETRANGE's bytes start..end of v, both included, negative ones counted
// from the end, as Redis's getrangeCommand clamps them (a missing key is
// an empty value).
std::string_view value_range(std::string_view v, int64_t start, int64_t end) {
  if (start < 0 && end < 0 && start > end) return {};
  const int64_t len = int64_t(v.size());
  if (start < 0) start += len;
  if (end < 0) end += len;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len == 0) return {};
  return v.substr(size_t(start), size_t(end - start + 1));
}

// A key a record can have. No other is ever sent to the node (the wire
// record's key length could not even carry one past 64 KiB): reads and
// deletes answer it as absent, writes refuse it.
bool storable_key(std::string_view key) { return !key.empty() && key.size() <= shm::kMaxKeyBytes; }

std::string unstorable_key(std::string_view key) {
  return "ERR key of " + std::to_string(key.size()) + " bytes: cachevault stores keys of 1 to " +
         std::to_string(shm::kMaxKeyBytes) + " bytes";
}

// A failed write or read as a Redis error reply; false if the status is fine.
bool write_failure(resp::ReplyWriter& w, RecStatus s) {
  switch (s) {
    case RecStatus::kOk:
    case RecStatus::kStale:
    case RecStatus::kNotFound: return false;
    case RecStatus::kFull: w.error("OOM command not allowed when used memory > 'maxmemory'."); return true;
    case RecStatus::kNodeDown:
      w.error("TRYAGAIN a replica of the key is down: the write is not on every copy");
      return true;
    case RecStatus::kTimeout: w.error("TRYAGAIN the node or a replica did not answer in time"); return true;
    case RecStatus::kBadRequest: w.error("ERR key or value of a size cachevault does not store"); return true;
    case RecStatus::kWrongNode: return false;  // the caller answers -MOVED
    case RecStatus::kLost:
      w.error("CLUSTERDOWN the key's partition is lost: every replica of it is gone");
      return true;
    case RecStatus::kReplicaFailed:
      w.error("TRYAGAIN a replica failed to apply the write (it is being fenced and replaced)");
      return true;
  }
  return false;
}

// As write_failure, but a refusal the primary explained (a read-modify-write
// on a value it cannot take) answers with the primary's words.
bool part_failure(resp::ReplyWriter& w, const DeferredOp::Part& p) {
  if (p.status == RecStatus::kBadRequest && !p.value.empty()) {
    w.error(p.value);
    return true;
  }
  return write_failure(w, p.status);
}

}  // namespace

void RedisService::dispatch(Connection& c, const std::vector<std::string_view>& a) {
  ++total_commands_;
  const resp::CommandSpec* spec = resp::find_command(a[0]);
  resp::ReplyWriter w = c.reply();
  if (!spec) {
    w.error(unknown_command(a));
    return;
  }
  c.last_command = std::string(spec->name);
  // In Redis's order: the command, its subcommand, their arity, then AUTH.
  if (!resp::arity_ok(*spec, a.size())) {
    w.error("ERR wrong number of arguments for '" + std::string(spec->name) + "' command");
    return;
  }
  const resp::SubcommandSpec* sub = nullptr;
  if (resp::has_subcommands(*spec) && a.size() >= 2) {
    sub = resp::find_subcommand(spec->name, a[1]);
    if (!sub) {
      std::string container(a[0]);
      for (char& ch : container) ch = char(std::toupper((unsigned char)ch));
      w.error("ERR unknown subcommand '" + std::string(a[1].substr(0, 128)) + "'. Try " + container + " HELP.");
      return;
    }
    c.last_command += "|" + std::string(sub->name);
    if (!resp::arity_ok(*sub, a.size())) {
      w.error("ERR wrong number of arguments for '" + c.last_command + "' command");
      return;
    }
  }
  if (!c.authenticated && !(spec->flags & resp::kFlagNoAuth)) {
    w.error("NOAUTH Authentication required.");
    return;
  }
  uint32_t slot = 0;
  if (spec->first_key > 0) {
    shm::refresh_table(b_, &table_);
    if (!route(c, *spec, a, &slot)) return;
  } else if (sub && sub->key > 0) {
    // A subcommand's key, routed as the key of a read.
    resp::CommandSpec keyed = *spec;
    keyed.first_key = keyed.last_key = sub->key;
    keyed.step = 1;
    keyed.flags |= resp::kFlagReadonly;
    shm::refresh_table(b_, &table_);
    if (!route(c, keyed, a, &slot)) return;
  }
  switch (spec->cmd) {
    case Cmd::kPing:
      if (a.size() > 2) w.error("ERR wrong number of arguments for 'ping' command");
      else if (a.size() == 2) w.bulk(a[1]);
      else w.simple("PONG");
      return;
    case Cmd::kEcho: w.bulk(a[1]); return;
    case Cmd::kQuit:
      w.ok();
      c.close_after_replies();
      return;
    case Cmd::kSelect: {
      int64_t db = 0;
      if (!parse_int64(a[1], &db)) w.error(kNotInteger);
      else if (db < INT32_MIN || db > INT32_MAX)
        w.error("ERR value is out of range, value must between -2147483648 and 2147483647");  // sic, Redis's words
      else if (db != 0) w.error("ERR SELECT is not allowed in cluster mode");
      else w.ok();
      return;
    }
    case Cmd::kTime: {
      const uint64_t us = wall_ns() / 1000;
      w.array(2);
      w.bulk(std::to_string(us / 1'000'000));
      w.bulk(std::to_string(us % 1'000'000));
      return;
    }
    case Cmd::kWait: {
      int64_t n = 0, t = 0;
      if (!parse_int64(a[1], &n)) return w.error(kNotInteger);
      if (!parse_int64(a[2], &t)) return w.error("ERR timeout is not an integer or out of range");
      if (t < 0) return w.error("ERR timeout is negative");
      // Every write is answered only once every replica holds it, so the
      // connection's writes are on all R - 1 other copies already.
      w.integer(int64_t(b_.config.replicas) - 1);
      return;
    }
    case Cmd::kReadOnly:
      c.readonly = true;
      w.ok();
      return;
    case Cmd::kReadWrite:
      c.readonly = false;
      w.ok();
      return;
    case Cmd::kHello: return cmd_hello(c, a);
    case Cmd::kAuth: return cmd_auth(c, a);
    case Cmd::kClient: return cmd_client(c, a);
    case Cmd::kCommand: return cmd_command(c, a);
    case Cmd::kInfo: return cmd_info(c, a);
    case Cmd::kConfig: return cmd_config(c, a);
    case Cmd::kObject:
    case Cmd::kMemory: return cmd_introspect(c, *spec, a, slot);
    case Cmd::kCluster: return cmd_cluster(c, a);
    case Cmd::kScan: return cmd_scan(c, a);
    case Cmd::kKeys: return cmd_keys(c, a);
    case Cmd::kFlushAll:
    case Cmd::kFlushDb: return cmd_flush(c, a);
    case Cmd::kDbSize: w.integer(int64_t(count_primary_keys())); return;
    case Cmd::kBgSave: return cmd_bgsave(c, a, false);
    case Cmd::kSave: return cmd_bgsave(c, a, true);
    case Cmd::kLastSave: return cmd_lastsave(c);
    case Cmd::kSet:
    case Cmd::kSetNx:
    case Cmd::kGetSet: return cmd_set(c, a, slot);
    case Cmd::kSetEx:
    case Cmd::kPSetEx:
    case Cmd::kGetEx:
    case Cmd::kExpire:
    case Cmd::kPExpire:
    case Cmd::kExpireAt:
    case Cmd::kPExpireAt:
    case Cmd::kPersist: return cmd_expiry(c, *spec, a, slot);
    case Cmd::kGet:
    case Cmd::kMGet:
    case Cmd::kMSet:
    case Cmd::kMSetNx:
    case Cmd::kDel:
    case Cmd::kUnlink:
    case Cmd::kExists:
    case Cmd::kTouch:
    case Cmd::kIncr:
    case Cmd::kDecr:
    case Cmd::kIncrBy:
    case Cmd::kDecrBy:
    case Cmd::kIncrByFloat:
    case Cmd::kAppend:
    case Cmd::kStrlen:
    case Cmd::kGetRange:
    case Cmd::kSetRange:
    case Cmd::kGetDel:
    case Cmd::kTtl:
    case Cmd::kPTtl:
    case Cmd::kExpireTime:
    case Cmd::kPExpireTime:
    case Cmd::kType: return cmd_data(c, *spec, a, slot);
  }
}

bool RedisService::route(Connection& c, const resp::CommandSpec& spec, const std::vector<std::string_view>& a,
                         uint32_t* slot) {
  const std::vector<size_t> keys = resp::key_positions(spec, a.size());
  if (keys.empty()) return true;
  *slot = resp::key_slot(a[keys[0]]);
  for (size_t k : keys) {
    if (resp::key_slot(a[k]) != *slot) {
      c.reply().error("CROSSSLOT Keys in request don't hash to the same slot");
      return false;
    }
  }
  if (table_.owners.empty()) {
    c.reply().error("CLUSTERDOWN Hash slot not served");
    return false;
  }
  const uint32_t p = partition_of_slot(*slot, table_.partitions);
  if (table_.lost[p]) {
    c.reply().error("CLUSTERDOWN partition " + std::to_string(p) + " (hash slot " + std::to_string(*slot) +
                    ") is lost: every replica of it is gone");
    return false;
  }
  const auto& owners = table_.owners[p];
  if (owners[0] == id_) return true;
  if ((spec.flags & resp::kFlagReadonly) && c.readonly) {
    for (uint32_t k = 1; k < table_.replicas; ++k)
      if (owners[k] == id_) return true;
  }
  resp::ReplyWriter w = c.reply();
  moved(w, *slot);
  return false;
}

void RedisService::moved(resp::ReplyWriter& w, uint32_t slot) {
  shm::refresh_table(b_, &table_);
  const int primary = table_.owners.empty() ? -1 : table_.owners[partition_of_slot(slot, table_.partitions)][0];
  const int port = primary < 0 ? 0 : node_port(primary);
  if (port == 0) return w.error("CLUSTERDOWN Hash slot not served");
  w.error("MOVED " + std::to_string(slot) + " 127.0.0.1:" + std::to_string(port));
}

std::shared_ptr<DeferredOp> RedisService::make_op(Connection& c, Cmd cmd, uint32_t slot, size_t parts) {
  auto op = std::make_shared<DeferredOp>();
  op->conn = c.shared_from_this();
  op->slot = c.defer();
  op->cmd = cmd;
  op->protocol = c.protocol;
  op->key_slot = slot;
  op->parts.resize(parts);
  return op;
}

void RedisService::cmd_set(Connection& c, const std::vector<std::string_view>& a, uint32_t slot) {
  const resp::CommandSpec* spec = resp::find_command(a[0]);
  uint32_t cond = 0;
  if (spec->cmd == Cmd::kSetNx) {
    cond = shm::kCondNx;
  } else if (spec->cmd == Cmd::kGetSet) {
    cond = shm::kCondGet;
  }
  uint64_t expire_ms = 0;
  if (spec->cmd == Cmd::kSet) {
    ExpiryOptions x;
    for (size_t i = 3; i < a.size(); ++i) {
      const std::string o = lower(a[i]);
      if (o == "nx" && !(cond & shm::kCondXx)) {
        cond |= shm::kCondNx;
      } else if (o == "xx" && !(cond & shm::kCondNx)) {
        cond |= shm::kCondXx;
      } else if (o == "get") {
        cond |= shm::kCondGet;
      } else if (!take_expiry_option(o, a, &i, true, &x)) {
        return c.reply().error("ERR syntax error");
      }
    }
    std::string error;
    if (x.unit != ExpiryOptions::kNone &&
        !expiry_argument(x.arg, x.seconds(), x.relative(), "set", &expire_ms, &error))
      return c.reply().error(error);
    if (x.keepttl) cond |= shm::kCondKeepTtl;
  }
  if (!storable_key(a[1])) return c.reply().error(unstorable_key(a[1]));
  auto op = make_op(c, spec->cmd, slot, 1);
  if (spec->cmd == Cmd::kSetNx) op->flags = kSetNxInt;
  if (cond & shm::kCondGet) op->flags |= kSetGet;
  // A plain SET (and GETSET) drops the key's expiry: expire_ms 0.
  if (cond == 0) queue_write(op, 0, RecOp::kPut, 0, a[1], a[2], expire_ms);
  else queue_write(op, 0, RecOp::kSetCond, cond, a[1], a[2], expire_ms);
}

void RedisService::cmd_expiry(Connection& c, const resp::CommandSpec& spec, const std::vector<std::string_view>& a,
                              uint32_t slot) {
  const std::string name = lower(a[0]);
  switch (spec.cmd) {
    case Cmd::kSetEx:
    case Cmd::kPSetEx: {
      uint64_t expire_ms = 0;
      std::string error;
      if (!expiry_argument(a[2], spec.cmd == Cmd::kSetEx, true, name, &expire_ms, &error))
        return c.reply().error(error);
      if (!storable_key(a[1])) return c.reply().error(unstorable_key(a[1]));
      auto op = make_op(c, Cmd::kSet, slot, 1);
      queue_write(op, 0, RecOp::kPut, 0, a[1], a[3], expire_ms);
      return;
    }
    case Cmd::kGetEx: {
      ExpiryOptions x;
      for (size_t i = 2; i < a.size(); ++i)
        if (!take_expiry_option(lower(a[i]), a, &i, false, &x)) return c.reply().error("ERR syntax error");
      if (!storable_key(a[1])) return c.reply().null();
      if (x.unit == ExpiryOptions::kNone && !x.persist) {
        // No option: a GET.
        if (read_direct(c, Cmd::kGet, a, 1)) return;
        auto op = make_op(c, Cmd::kGet, slot, 1);
        queue_get(op, 0, a[1]);
        return;
      }
      uint32_t aux = shm::kExpGetValue;
      std::string arg;
      if (x.persist) {
        aux |= shm::kExpPersist;
      } else {
        uint64_t when = 0;
        // Redis looks at the expiry only once it found the key: the node
        // answers the error if it holds the key, nil if not.
        if (expiry_argument(x.arg, x.seconds(), x.relative(), "getex", &when, &arg)) arg = std::to_string(when);
        else aux |= shm::kExpBadArgument;
      }
      auto op = make_op(c, Cmd::kGetEx, slot, 1);
      queue_write(op, 0, RecOp::kExpire, aux, a[1], arg);
      return;
    }
    case Cmd::kPersist: {
      if (!storable_key(a[1])) return c.reply().integer(0);
      auto op = make_op(c, Cmd::kPersist, slot, 1);
      queue_write(op, 0, RecOp::kExpire, shm::kExpPersist, a[1], {});
      return;
    }
    default: break;
  }
  // EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT key time [NX|XX|GT|LT]: options
  // first, then the time, as Redis's expireGenericCommand.
  uint32_t aux = 0;
  for (size_t i = 3; i < a.size(); ++i) {
    const std::string o = lower(a[i]);
    if (o == "nx") aux |= shm::kExpNx;
    else if (o == "xx") aux |= shm::kExpXx;
    else if (o == "gt") aux |= shm::kExpGt;
    else if (o == "lt") aux |= shm::kExpLt;
    else return c.reply().error("ERR Unsupported option " + std::string(a[i]));
  }
  if ((aux & shm::kExpNx) && (aux & (shm::kExpXx | shm::kExpGt | shm::kExpLt)))
    return c.reply().error("ERR NX and XX, GT or LT options at the same time are not compatible");
  if ((aux & shm::kExpGt) && (aux & shm::kExpLt))
    return c.reply().error("ERR GT and LT options at the same time are not compatible");
  int64_t when = 0;
  if (!parse_int64(a[2], &when)) return c.reply().error(kNotInteger);
  const bool seconds = spec.cmd == Cmd::kExpire || spec.cmd == Cmd::kExpireAt;
  const bool relative = spec.cmd == Cmd::kExpire || spec.cmd == Cmd::kPExpire;
  if (seconds) {
    if (when > INT64_MAX / 1000 || when < INT64_MIN / 1000) return c.reply().error(invalid_expire(name));
    when *= 1000;
  }
  const int64_t base = relative ? int64_t(shm::wall_ms()) : 0;
  if (when > INT64_MAX - base) return c.reply().error(invalid_expire(name));
  when += base;
  if (!storable_key(a[1])) return c.reply().integer(0);
  auto op = make_op(c, spec.cmd, slot, 1);
  queue_write(op, 0, RecOp::kExpire, aux, a[1], std::to_string(when));
}

void RedisService::cmd_data(Connection& c, const resp::CommandSpec& spec, const std::vector<std::string_view>& a,
                            uint32_t slot) {
  switch (spec.cmd) {
    case Cmd::kGet:
    case Cmd::kStrlen:
    case Cmd::kType:
    case Cmd::kTtl:
    case Cmd::kPTtl:
    case Cmd::kExpireTime:
    case Cmd::kPExpireTime:
    case Cmd::kMGet:
    case Cmd::kExists:
    case Cmd::kTouch: {  // no access times to update: TOUCH counts as EXISTS
      if (read_direct(c, spec.cmd, a, 1)) return;
      auto op = make_op(c, spec.cmd, slot, a.size() - 1);
      for (size_t i = 1; i < a.size(); ++i) {
        if (storable_key(a[i])) queue_get(op, uint32_t(i - 1), a[i]);
        else op->parts[i - 1].status = RecStatus::kOk;  // absent
      }
      finish_if_nothing_queued(*op);
      return;
    }
    case Cmd::kGetRange: {
      // Redis's getrangeCommand: start and end first, then the key.
      DeferredOp like;
      if (!parse_int64(a[2], &like.range_start) || !parse_int64(a[3], &like.range_end))
        return c.reply().error(kNotInteger);
      return read_one_key(c, spec.cmd, a, 1, slot, like);
    }
    case Cmd::kMSet: {
      if (a.size() % 2 == 0) return c.reply().error("ERR wrong number of arguments for 'mset' command");
      for (size_t i = 1; i < a.size(); i += 2)
        if (!storable_key(a[i])) return c.reply().error(unstorable_key(a[i]));
      auto op = make_op(c, spec.cmd, slot, (a.size() - 1) / 2);
      for (size_t i = 1; i + 1 < a.size(); i += 2) queue_write(op, uint32_t(i / 2), RecOp::kPut, 0, a[i], a[i + 1]);
      return;
    }
    case Cmd::kMSetNx: {
      if (a.size() % 2 == 0) return c.reply().error("ERR wrong number of arguments for 'msetnx' command");
      std::vector<std::pair<std::string_view, std::string_view>> pairs;
      for (size_t i = 1; i < a.size(); i += 2) {
        if (!storable_key(a[i])) return c.reply().error(unstorable_key(a[i]));
        pairs.emplace_back(a[i], a[i + 1]);
      }
      // One record carries them all, so the primary decides for all at once.
      if (msetnx_bytes(pairs) > shm::kMaxValueBytes)
        return c.reply().error("ERR MSETNX of " + std::to_string(msetnx_bytes(pairs)) +
                               " bytes of keys and values: cachevault takes at most " +
                               std::to_string(shm::kMaxValueBytes) + " in one MSETNX");
      auto op = make_op(c, spec.cmd, slot, 1);
      queue_write(op, 0, RecOp::kMSetNx, 0, a[1], encode_msetnx(pairs));
      return;
    }
    case Cmd::kDel:
    case Cmd::kUnlink: {
      auto op = make_op(c, spec.cmd, slot, a.size() - 1);
      for (size_t i = 1; i < a.size(); ++i) {
        if (storable_key(a[i])) queue_write(op, uint32_t(i - 1), RecOp::kDeleteCount, 0, a[i], {});
        else op->parts[i - 1].status = RecStatus::kOk;  // not found: not counted
      }
      finish_if_nothing_queued(*op);
      return;
    }
    case Cmd::kGetDel: {
      if (!storable_key(a[1])) return c.reply().null();
      auto op = make_op(c, spec.cmd, slot, 1);
      queue_write(op, 0, RecOp::kDeleteCount, shm::kCondGet, a[1], {});
      return;
    }
    case Cmd::kIncr:
    case Cmd::kDecr:
    case Cmd::kIncrBy:
    case Cmd::kDecrBy: {
      int64_t delta = spec.cmd == Cmd::kDecr ? -1 : 1;
      if (spec.cmd == Cmd::kIncrBy || spec.cmd == Cmd::kDecrBy) {
        if (!parse_int64(a[2], &delta)) return c.reply().error(kNotInteger);
        if (spec.cmd == Cmd::kDecrBy) {
          if (delta == INT64_MIN) return c.reply().error("ERR decrement would overflow");
          delta = -delta;
        }
      }
      if (!storable_key(a[1])) return c.reply().error(unstorable_key(a[1]));
      auto op = make_op(c, spec.cmd, slot, 1);
      queue_write(op, 0, RecOp::kIncrBy, 0, a[1], std::to_string(delta));
      return;
    }
    case Cmd::kIncrByFloat: {
      long double d = 0;
      if (!parse_long_double(a[2], &d)) return c.reply().error("ERR value is not a valid float");
      if (!storable_key(a[1])) return c.reply().error(unstorable_key(a[1]));
      auto op = make_op(c, spec.cmd, slot, 1);
      queue_write(op, 0, RecOp::kIncrByFloat, 0, a[1], a[2]);
      return;
    }
    case Cmd::kAppend: {
      if (!storable_key(a[1])) return c.reply().error(unstorable_key(a[1]));
      auto op = make_op(c, spec.cmd, slot, 1);
      queue_write(op, 0, RecOp::kAppend, 0, a[1], a[2]);
      return;
    }
    case Cmd::kSetRange: {
      // Redis's setrangeCommand: the offset, then (with something to
      // write) the resulting length, then the key.
      int64_t offset = 0;
      if (!parse_int64(a[2], &offset)) return c.reply().error(kNotInteger);
      if (offset < 0) return c.reply().error("ERR offset is out of range");
      const std::string_view bytes = a[3];
      if (!bytes.empty() && (uint64_t(offset) > shm::kMaxValueBytes || bytes.size() > shm::kMaxValueBytes - size_t(offset)))
        return c.reply().error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
      if (!storable_key(a[1])) {
        if (bytes.empty()) return c.reply().integer(0);  // nothing set on a missing key
        return c.reply().error(unstorable_key(a[1]));
      }
      auto op = make_op(c, spec.cmd, slot, 1);
      queue_write(op, 0, RecOp::kSetRange, bytes.empty() ? 0 : uint32_t(offset), a[1], bytes);
      return;
    }
    default: c.reply().error("ERR internal: command routed to the wrong handler"); return;
  }
}

void RedisService::cmd_introspect(Connection& c, const resp::CommandSpec& spec, const std::vector<std::string_view>& a,
                                  uint32_t slot) {
  const std::string sub = lower(a[1]);
  resp::ReplyWriter w = c.reply();
  if (sub == "help") {
    // Redis's words for the subcommands cachevault answers.
    if (spec.cmd == Cmd::kObject) {
      w.array(9);
      w.simple("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
      w.simple("ENCODING <key>");
      w.simple("    Return the kind of internal representation used in order to store the value");
      w.simple("    associated with a <key>.");
      w.simple("REFCOUNT <key>");
      w.simple("    Return the number of references of the value associated with the specified");
      w.simple("    <key>.");
    } else {
      w.array(6);
      w.simple("MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
      w.simple("USAGE <key> [SAMPLES <count>]");
      w.simple("    Return memory in bytes used by <key> and its value. Nested values are");
      w.simple("    sampled up to <count> times (default: 5, 0 means sample all).");
    }
    w.simple("HELP");
    w.simple("    Prints this help.");
    return;
  }
  DeferredOp like;
  if (spec.cmd == Cmd::kMemory) {
    // USAGE's options first, as Redis's memoryCommand reads them; a string
    // has nothing to sample, so SAMPLES changes nothing.
    for (size_t j = 3; j < a.size(); ++j) {
      if (lower(a[j]) != "samples" || j + 1 >= a.size()) return w.error("ERR syntax error");
      int64_t samples = 0;
      if (!parse_int64(a[++j], &samples)) return w.error(kNotInteger);
      if (samples < 0) return w.error("ERR syntax error");
    }
  } else if (sub == "refcount") {
    like.flags = kObjectRefcount;
  }
  like.key_bytes = uint32_t(std::min(a[2].size(), size_t(UINT32_MAX)));
  read_one_key(c, spec.cmd, a, 2, slot, like);
}

void RedisService::read_one_key(Connection& c, resp::Cmd cmd, const std::vector<std::string_view>& a, size_t key,
                                uint32_t slot, const DeferredOp& like) {
  if (read_direct(c, cmd, a, key, key + 1, &like)) return;
  auto op = make_op(c, cmd, slot, 1);
  op->range_start = like.range_start;
  op->range_end = like.range_end;
  op->flags = like.flags;
  op->key_bytes = like.key_bytes;
  if (storable_key(a[key])) queue_get(op, 0, a[key]);
  else op->parts[0].status = RecStatus::kOk;  // absent
  finish_if_nothing_queued(*op);
}

void RedisService::finish_if_nothing_queued(DeferredOp& op) {
  if (op.outstanding > 0) return;
  resp::ReplyWriter w(&op.slot->bytes, op.protocol);
  finish_op(op, w);
  op.slot->done = true;  // the connection sends it once its input is handled
}

bool RedisService::read_direct(Connection& c, Cmd cmd, const std::vector<std::string_view>& a, size_t first,
                               size_t end, const DeferredOp* like) {
  // With replies owed, one of them may be a write to these keys that the
  // node has not applied yet: those reads queue behind it instead.
  if (c.has_waiting()) return false;
  if (end == 0) end = a.size();
  DeferredOp op;
  if (like) {
    op.range_start = like->range_start;
    op.range_end = like->range_end;
    op.flags = like->flags;
    op.key_bytes = like->key_bytes;
  }
  op.cmd = cmd;
  op.protocol = c.protocol;
  op.parts.resize(end - first);
  const uint64_t now_ms = shm::wall_ms();
  for (size_t i = first; i < end; ++i) {
    DeferredOp::Part& p = op.parts[i - first];
    p.status = RecStatus::kOk;
    if (!storable_key(a[i])) continue;
    auto rec = store_.get(partition_of(a[i], store_.partitions()), a[i]);
    // An expired record is hidden here; the request loop, the store's one
    // writer, reclaims it (on its own reads and by its sweep).
    p.found = rec && !rec->tombstone && !shm::is_expired(rec->expire_ms, now_ms);
    if (p.found) {
      p.value = std::move(rec->value);
      p.expire_ms = rec->expire_ms;
    }
  }
  resp::ReplyWriter w = c.reply();
  finish_op(op, w);
  return true;
}

void RedisService::finish_op(DeferredOp& op, resp::ReplyWriter& w) {
  // A key that moved between the check and the node's answer.
  for (const auto& p : op.parts) {
    if (p.status == RecStatus::kWrongNode) return moved(w, op.key_slot);
  }
  const DeferredOp::Part& first = op.parts[0];
  switch (op.cmd) {
    case Cmd::kGet:
    case Cmd::kStrlen:
    case Cmd::kGetRange:
    case Cmd::kType:
    case Cmd::kTtl:
    case Cmd::kPTtl:
    case Cmd::kExpireTime:
    case Cmd::kPExpireTime:
      if (write_failure(w, first.status)) return;
      first.found ? ++keyspace_hits_ : ++keyspace_misses_;
      switch (op.cmd) {
        case Cmd::kGet: first.found ? w.bulk(first.value) : w.null(); return;
        case Cmd::kGetRange: return w.bulk(value_range(first.found ? first.value : std::string_view(),
                                                       op.range_start, op.range_end));
        case Cmd::kStrlen: w.integer(first.found ? int64_t(first.value.size()) : 0); return;
        case Cmd::kType: w.simple(first.found ? "string" : "none"); return;
        default: {
          // Redis's ttlGenericCommand: -2 absent, -1 no expiry; seconds
          // rounded to the nearest.
          if (!first.found) return w.integer(-2);
          if (first.expire_ms == 0) return w.integer(-1);
          const bool absolute = op.cmd == Cmd::kExpireTime || op.cmd == Cmd::kPExpireTime;
          const bool ms = op.cmd == Cmd::kPTtl || op.cmd == Cmd::kPExpireTime;
          int64_t t = absolute ? int64_t(first.expire_ms) : int64_t(first.expire_ms) - int64_t(shm::wall_ms());
          if (t < 0) t = 0;
          return w.integer(ms ? t : (t + 500) / 1000);
        }
      }
    case Cmd::kGetEx:
      if (part_failure(w, first)) return;
      first.found ? ++keyspace_hits_ : ++keyspace_misses_;
      first.found ? w.bulk(first.value) : w.null();
      return;
    case Cmd::kExpire:
    case Cmd::kPExpire:
    case Cmd::kExpireAt:
    case Cmd::kPExpireAt:
    case Cmd::kPersist: {
      if (part_failure(w, first)) return;
      int64_t v = 0;
      if (first.found) parse_int64(first.value, &v);
      w.integer(v);
      return;
    }
    case Cmd::kMGet:
      w.array(op.parts.size());
      for (const auto& p : op.parts) {
        if (p.status != RecStatus::kOk) w.null();
        else p.found ? w.bulk(p.value) : w.null();
      }
      return;
    case Cmd::kExists:
    case Cmd::kTouch:
    case Cmd::kDel:
    case Cmd::kUnlink: {  // how many of the keys existed (and, for DEL, went)
      int64_t n = 0;
      for (const auto& p : op.parts) {
        if (write_failure(w, p.status)) return;
        n += p.found;
      }
      w.integer(n);
      return;
    }
    case Cmd::kMSet:
    case Cmd::kSet:
    case Cmd::kSetNx:
    case Cmd::kGetSet:
      for (const auto& p : op.parts)
        if (write_failure(w, p.status)) return;
      // Conditional sets answer through the values reply: kOk (found) when
      // set or, with GET, the old value; kNotFound for nil.
      if (op.flags & kSetNxInt) return w.integer(first.found ? 1 : 0);
      if (op.flags & kSetGet) return first.found ? w.bulk(first.value) : w.null();
      if (op.cmd == Cmd::kSet && first.status == RecStatus::kNotFound) return w.null();
      w.ok();
      return;
    case Cmd::kObject:
      // Redis looks the key up without counting a hit or a miss.
      if (write_failure(w, first.status)) return;
      if (!first.found) return w.null();
      if (op.flags & kObjectRefcount) return w.integer(string_refcount(first.value));
      return w.bulk(string_encoding(first.value));
    case Cmd::kMemory:
      if (write_failure(w, first.status)) return;
      if (!first.found) return w.null();
      return w.integer(int64_t(RecordStore::record_memory(op.key_bytes, first.value.size(),
                                                          first.expire_ms != 0)));
    case Cmd::kMSetNx:
      if (part_failure(w, first)) return;
      return w.integer(first.found ? 1 : 0);
    case Cmd::kGetDel:
      if (write_failure(w, first.status)) return;
      first.found ? w.bulk(first.value) : w.null();
      return;
    case Cmd::kIncr:
    case Cmd::kDecr:
    case Cmd::kIncrBy:
    case Cmd::kDecrBy:
    case Cmd::kIncrByFloat:
    case Cmd::kAppend:
    case Cmd::kSetRange: {
      if (part_failure(w, first)) return;
      if (op.cmd == Cmd::kIncrByFloat) return w.bulk(first.value);
      int64_t v = 0;
      parse_int64(first.value, &v);
      w.integer(v);
      return;
    }
    case Cmd::kFlushAll:
      for (const auto& p : op.parts)
        if (write_failure(w, p.status)) return;
      w.ok();
      return;
    default: w.error("ERR internal: no reply for this command"); return;
  }
}

}  // namespace cv::node
