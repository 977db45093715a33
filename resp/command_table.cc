// The command table (arity, flags and key positions as Redis 7.0 gives them
// in COMMAND INFO) and the look-ups on it.
#include "resp/command_table.h"

#include <array>
#include <cctype>

namespace cv::resp {
namespace {

constexpr uint32_t W = kFlagWrite, R = kFlagReadonly, M = kFlagDenyOom, A = kFlagAdmin, N = kFlagNoScript,
                   L = kFlagLoading, S = kFlagStale, F = kFlagFast, U = kFlagNoAuth, Y = kFlagNoAsyncLoading,
                   X = kFlagNoMulti, B = kFlagAllowBusy;

// Request and response policies and output tips, as Redis 7.0 gives them.
constexpr std::string_view kMultiShardSum = "request_policy:multi_shard response_policy:agg_sum";
constexpr std::string_view kAllShardsOk = "request_policy:all_shards response_policy:all_succeeded";

constexpr CommandSpec kCommands[] = {
    {"get", Cmd::kGet, 2, R | F, 1, 1, 1, "@read @string @fast", "Get the value of a key", "RO access", {}, {}},
    {"set", Cmd::kSet, -3, W | M, 1, 1, 1, "@write @string @slow", "Set the string value of a key", "RW access update variable_flags", "RW and ACCESS due to the optional `GET` argument", {}},
    {"setnx", Cmd::kSetNx, 3, W | M | F, 1, 1, 1, "@write @string @fast", "Set a key only if it does not exist", "OW insert", {}, {}},
    {"setex", Cmd::kSetEx, 4, W | M, 1, 1, 1, "@write @string @slow", "Set a key with a time to live in seconds", "OW update", {}, {}},
    {"psetex", Cmd::kPSetEx, 4, W | M, 1, 1, 1, "@write @string @slow", "Set a key with a time to live in ms", "OW update", {}, {}},
    {"getset", Cmd::kGetSet, 3, W | M | F, 1, 1, 1, "@write @string @fast", "Set a key, returning its old value", "RW access update", {}, {}},
    {"mget", Cmd::kMGet, -2, R | F, 1, -1, 1, "@read @string @fast", "Get the values of keys", "RO access", {}, "request_policy:multi_shard"},
    {"mset", Cmd::kMSet, -3, W | M, 1, -1, 2, "@write @string @slow", "Set several keys", "OW update", {}, "request_policy:multi_shard response_policy:all_succeeded"},
    {"msetnx", Cmd::kMSetNx, -3, W | M, 1, -1, 2, "@write @string @slow", "Set several keys if none exists", "OW insert", {}, "request_policy:multi_shard response_policy:agg_min"},
    {"del", Cmd::kDel, -2, W, 1, -1, 1, "@keyspace @write @slow", "Delete keys", "RM delete", {}, kMultiShardSum},
    {"unlink", Cmd::kUnlink, -2, W | F, 1, -1, 1, "@keyspace @write @fast", "Delete keys", "RM delete", {}, kMultiShardSum},
    {"exists", Cmd::kExists, -2, R | F, 1, -1, 1, "@keyspace @read @fast", "Count the keys that exist", "RO", {}, kMultiShardSum},
    {"touch", Cmd::kTouch, -2, R | F, 1, -1, 1, "@keyspace @read @fast", "Count the keys that exist (and touch them)", "RO", {}, kMultiShardSum},
    {"incr", Cmd::kIncr, 2, W | M | F, 1, 1, 1, "@write @string @fast", "Add one to an integer value", "RW access update", {}, {}},
    {"decr", Cmd::kDecr, 2, W | M | F, 1, 1, 1, "@write @string @fast", "Subtract one from an integer value", "RW access update", {}, {}},
    {"incrby", Cmd::kIncrBy, 3, W | M | F, 1, 1, 1, "@write @string @fast", "Add to an integer value", "RW access update", {}, {}},
    {"decrby", Cmd::kDecrBy, 3, W | M | F, 1, 1, 1, "@write @string @fast", "Subtract from an integer value", "RW access update", {}, {}},
    {"incrbyfloat", Cmd::kIncrByFloat, 3, W | M | F, 1, 1, 1, "@write @string @fast", "Add to a float value", "RW access update", {}, {}},
    {"append", Cmd::kAppend, 3, W | M | F, 1, 1, 1, "@write @string @fast", "Append to a value", "RW insert", {}, {}},
    {"strlen", Cmd::kStrlen, 2, R | F, 1, 1, 1, "@read @string @fast", "The length of a value", "RO", {}, {}},
    {"getrange", Cmd::kGetRange, 4, R, 1, 1, 1, "@read @string @slow", "Get a substring of a value", "RO access", {}, {}},
    {"substr", Cmd::kGetRange, 4, R, 1, 1, 1, "@read @string @slow", "Get a substring of a value (GETRANGE)", "RO access", {}, {}},
    {"setrange", Cmd::kSetRange, 4, W | M, 1, 1, 1, "@write @string @slow", "Overwrite part of a value at an offset", "RW update", {}, {}},
    {"getdel", Cmd::kGetDel, 2, W | F, 1, 1, 1, "@write @string @fast", "Get a value and delete its key", "RW access delete", {}, {}},
    {"getex", Cmd::kGetEx, -2, W | F, 1, 1, 1, "@write @string @fast", "Get a value and set its expiry", "RW access update", "RW and UPDATE because it changes the TTL", {}},
    {"expire", Cmd::kExpire, -3, W | F, 1, 1, 1, "@keyspace @write @fast", "Set a key's time to live (s)", "RW update", {}, {}},
    {"pexpire", Cmd::kPExpire, -3, W | F, 1, 1, 1, "@keyspace @write @fast", "Set a key's time to live (ms)", "RW update", {}, {}},
    {"expireat", Cmd::kExpireAt, -3, W | F, 1, 1, 1, "@keyspace @write @fast", "Set a key's expiry (unix s)", "RW update", {}, {}},
    {"pexpireat", Cmd::kPExpireAt, -3, W | F, 1, 1, 1, "@keyspace @write @fast", "Set a key's expiry (unix ms)", "RW update", {}, {}},
    {"ttl", Cmd::kTtl, 2, R | F, 1, 1, 1, "@keyspace @read @fast", "A key's time to live (s)", "RO access", {}, "nondeterministic_output"},
    {"pttl", Cmd::kPTtl, 2, R | F, 1, 1, 1, "@keyspace @read @fast", "A key's time to live (ms)", "RO access", {}, "nondeterministic_output"},
    {"persist", Cmd::kPersist, 2, W | F, 1, 1, 1, "@keyspace @write @fast", "Remove a key's expiry", "RW update", {}, {}},
    {"expiretime", Cmd::kExpireTime, 2, R | F, 1, 1, 1, "@keyspace @read @fast", "A key's expiry (unix s)", "RO access", {}, {}},
    {"pexpiretime", Cmd::kPExpireTime, 2, R | F, 1, 1, 1, "@keyspace @read @fast", "A key's expiry (unix ms)", "RO access", {}, {}},
    {"scan", Cmd::kScan, -2, R, 0, 0, 0, "@keyspace @read @slow", "Iterate over the keys", {}, {}, "nondeterministic_output request_policy:special"},
    {"keys", Cmd::kKeys, 2, R, 0, 0, 0, "@keyspace @read @slow @dangerous", "Keys matching a pattern", {}, {}, "request_policy:all_shards nondeterministic_output_order"},
    {"dbsize", Cmd::kDbSize, 1, R | F, 0, 0, 0, "@keyspace @read @fast", "The number of keys", {}, {}, "request_policy:all_shards response_policy:agg_sum"},
    {"flushall", Cmd::kFlushAll, -1, W, 0, 0, 0, "@keyspace @write @slow @dangerous", "Delete every key", {}, {}, kAllShardsOk},
    {"flushdb", Cmd::kFlushDb, -1, W, 0, 0, 0, "@keyspace @write @slow @dangerous", "Delete every key", {}, {}, kAllShardsOk},
    {"type", Cmd::kType, 2, R | F, 1, 1, 1, "@keyspace @read @fast", "The type of a key's value", "RO", {}, {}},
    {"ping", Cmd::kPing, -1, F, 0, 0, 0, "@fast @connection", "Ping the server", {}, {}, kAllShardsOk},
    {"echo", Cmd::kEcho, 2, F | L | S, 0, 0, 0, "@fast @connection", "Echo the argument"},
    {"hello", Cmd::kHello, -1, N | L | S | F | U | B, 0, 0, 0, "@fast @connection", "Handshake"},
    {"auth", Cmd::kAuth, -2, N | L | S | F | U | B, 0, 0, 0, "@fast @connection", "Authenticate"},
    {"select", Cmd::kSelect, 2, L | S | F, 0, 0, 0, "@fast @connection", "Select database 0"},
    {"client", Cmd::kClient, -2, 0, 0, 0, 0, "@slow", "Connection commands"},
    {"info", Cmd::kInfo, -1, L | S, 0, 0, 0, "@slow @dangerous", "Server information", {}, {}, "nondeterministic_output request_policy:all_shards response_policy:special"},
    {"command", Cmd::kCommand, -1, L | S, 0, 0, 0, "@slow @connection", "Command descriptions", {}, {}, "nondeterministic_output_order"},
    {"time", Cmd::kTime, 1, L | S | F, 0, 0, 0, "@fast", "The server time", {}, {}, "nondeterministic_output"},
    {"wait", Cmd::kWait, 3, N, 0, 0, 0, "@slow @connection", "Wait for replicas", {}, {}, "request_policy:all_shards response_policy:agg_min"},
    {"quit", Cmd::kQuit, -1, N | L | S | F | U | B, 0, 0, 0, "@fast @connection", "Close the connection"},
    {"cluster", Cmd::kCluster, -2, 0, 0, 0, 0, "@slow", "Cluster commands"},
    {"readonly", Cmd::kReadOnly, 1, L | S | F, 0, 0, 0, "@fast @connection", "Let a replica serve reads"},
    {"readwrite", Cmd::kReadWrite, 1, L | S | F, 0, 0, 0, "@fast @connection", "Reads from primaries only"},
    {"bgsave", Cmd::kBgSave, -1, A | N | Y, 0, 0, 0, "@admin @slow @dangerous", "Start a cluster backup"},
    {"save", Cmd::kSave, 1, A | N | Y | X, 0, 0, 0, "@admin @slow @dangerous", "Back the cluster up and wait"},
    {"lastsave", Cmd::kLastSave, 1, L | S | F, 0, 0, 0, "@admin @fast @dangerous", "Time of the last backup", {}, {}, "nondeterministic_output"},
    {"config", Cmd::kConfig, -2, 0, 0, 0, 0, "@slow", "Configuration (GET only)"},
    {"object", Cmd::kObject, -2, 0, 0, 0, 0, "@slow", "How a key's value is held (ENCODING, REFCOUNT)"},
    {"memory", Cmd::kMemory, -2, 0, 0, 0, 0, "@slow", "The memory a key takes (USAGE)"},
};

constexpr SubcommandSpec kSubcommands[] = {
    {"client", "id", 2},         {"client", "getname", 2},       {"client", "setname", 3},
    {"client", "info", 2},       {"client", "list", -2},         {"client", "reply", 3},
    {"client", "setinfo", 4},    {"client", "help", 2},          {"command", "count", 2},
    {"command", "docs", -2},     {"command", "getkeys", -4},     {"command", "info", -2},
    {"command", "list", -2},     {"command", "help", 2},         {"config", "get", -3},
    {"config", "set", -4},       {"config", "resetstat", 2},     {"config", "help", 2},  {"cluster", "slots", 2},        {"cluster", "shards", 2},
    {"cluster", "nodes", 2},     {"cluster", "info", 2},         {"cluster", "myid", 2},
    {"cluster", "keyslot", 3},   {"cluster", "countkeysinslot", 3}, {"cluster", "getkeysinslot", 4},
    {"cluster", "help", 2},
    {"object", "encoding", 3, 2}, {"object", "refcount", 3, 2}, {"object", "help", 2},
    {"memory", "usage", -3, 2},   {"memory", "help", 2},
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower((unsigned char)a[i]) != (unsigned char)b[i]) return false;
  return true;
}

}  // namespace

std::span<const CommandSpec> all_commands() { return kCommands; }

const CommandSpec* find_command(std::string_view name) {
  for (const auto& c : kCommands)
    if (iequals(name, c.name)) return &c;
  return nullptr;
}

bool has_subcommands(const CommandSpec& spec) {
  for (const auto& s : kSubcommands)
    if (s.container == spec.name) return true;
  return false;
}

const SubcommandSpec* find_subcommand(std::string_view container, std::string_view name) {
  for (const auto& s : kSubcommands)
    if (s.container == container && iequals(name, s.name)) return &s;
  return nullptr;
}

bool arity_ok(const CommandSpec& spec, size_t argc) {
  return spec.arity > 0 ? argc == size_t(spec.arity) : argc >= size_t(-spec.arity);
}

bool arity_ok(const SubcommandSpec& spec, size_t argc) {
  return spec.arity > 0 ? argc == size_t(spec.arity) : argc >= size_t(-spec.arity);
}

std::vector<size_t> key_positions(const CommandSpec& spec, size_t argc) {
  std::vector<size_t> out;
  if (spec.first_key <= 0 || argc <= size_t(spec.first_key)) return out;
  const long last = spec.last_key < 0 ? long(argc) + spec.last_key : spec.last_key;
  for (long i = spec.first_key; i <= last && i < long(argc); i += spec.step) out.push_back(size_t(i));
  return out;
}

std::vector<std::string_view> flag_names(uint32_t flags) {
  // In the order Redis lists them.
  static constexpr std::array<std::pair<uint32_t, std::string_view>, 12> kNames{{
      {kFlagWrite, "write"}, {kFlagReadonly, "readonly"}, {kFlagDenyOom, "denyoom"},
      {kFlagAdmin, "admin"}, {kFlagNoScript, "noscript"}, {kFlagLoading, "loading"},
      {kFlagStale, "stale"}, {kFlagFast, "fast"}, {kFlagNoAuth, "no_auth"},
      {kFlagNoAsyncLoading, "no_async_loading"}, {kFlagNoMulti, "no_multi"}, {kFlagAllowBusy, "allow_busy"},
  }};
  std::vector<std::string_view> out;
  for (const auto& [bit, name] : kNames)
    if (flags & bit) out.push_back(name);
  return out;
}

}  // namespace cv::resp
