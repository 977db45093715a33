// The command table (arity, flags and key positions as Redis 7.0 gives them
// in COMMAND INFO) and the look-ups on it.
#include "resp/command_table.h"

#include <array>
#include <cctype>

namespace cv::resp {
namespace {

constexpr uint32_t W = kFlagWrite, R = kFlagReadonly, M = kFlagDenyOom, A = kFlagAdmin, N = kFlagNoScript,
                   L = kFlagLoading, S = kFlagStale, F = kFlagFast, U = kFlagNoAuth;

constexpr CommandSpec kCommands[] = {
    {"get", Cmd::kGet, 2, R | F, 1, 1, 1, "@read @string @fast", "Get the value of a key"},
    {"set", Cmd::kSet, -3, W | M, 1, 1, 1, "@write @string @slow", "Set the string value of a key"},
    {"setnx", Cmd::kSetNx, 3, W | M | F, 1, 1, 1, "@write @string @fast", "Set a key only if it does not exist"},
    {"setex", Cmd::kSetEx, 4, W | M, 1, 1, 1, "@write @string @slow", "Set a key with a time to live in seconds"},
    {"psetex", Cmd::kPSetEx, 4, W | M, 1, 1, 1, "@write @string @slow", "Set a key with a time to live in ms"},
    {"getset", Cmd::kGetSet, 3, W | M | F, 1, 1, 1, "@write @string @fast", "Set a key, returning its old value"},
    {"mget", Cmd::kMGet, -2, R | F, 1, -1, 1, "@read @string @fast", "Get the values of keys"},
    {"mset", Cmd::kMSet, -3, W | M, 1, -1, 2, "@write @string @slow", "Set several keys"},
    {"del", Cmd::kDel, -2, W, 1, -1, 1, "@keyspace @write @slow", "Delete keys"},
    {"unlink", Cmd::kUnlink, -2, W | F, 1, -1, 1, "@keyspace @write @fast", "Delete keys"},
    {"exists", Cmd::kExists, -2, R | F, 1, -1, 1, "@keyspace @read @fast", "Count the keys that exist"},
    {"incr", Cmd::kIncr, 2, W | M | F, 1, 1, 1, "@write @string @fast", "Add one to an integer value"},
    {"decr", Cmd::kDecr, 2, W | M | F, 1, 1, 1, "@write @string @fast", "Subtract one from an integer value"},
    {"incrby", Cmd::kIncrBy, 3, W | M | F, 1, 1, 1, "@write @string @fast", "Add to an integer value"},
    {"decrby", Cmd::kDecrBy, 3, W | M | F, 1, 1, 1, "@write @string @fast", "Subtract from an integer value"},
    {"incrbyfloat", Cmd::kIncrByFloat, 3, W | M | F, 1, 1, 1, "@write @string @fast", "Add to a float value"},
    {"append", Cmd::kAppend, 3, W | M | F, 1, 1, 1, "@write @string @fast", "Append to a value"},
    {"strlen", Cmd::kStrlen, 2, R | F, 1, 1, 1, "@read @string @fast", "The length of a value"},
    {"getdel", Cmd::kGetDel, 2, W | F, 1, 1, 1, "@write @string @fast", "Get a value and delete its key"},
    {"getex", Cmd::kGetEx, -2, W | F, 1, 1, 1, "@write @string @fast", "Get a value and set its expiry"},
    {"expire", Cmd::kExpire, -3, W | F, 1, 1, 1, "@keyspace @write @fast", "Set a key's time to live (s)"},
    {"pexpire", Cmd::kPExpire, -3, W | F, 1, 1, 1, "@keyspace @write @fast", "Set a key's time to live (ms)"},
    {"expireat", Cmd::kExpireAt, -3, W | F, 1, 1, 1, "@keyspace @write @fast", "Set a key's expiry (unix s)"},
    {"pexpireat", Cmd::kPExpireAt, -3, W | F, 1, 1, 1, "@keyspace @write @fast", "Set a key's expiry (unix ms)"},
    {"ttl", Cmd::kTtl, 2, R | F, 1, 1, 1, "@keyspace @read @fast", "A key's time to live (s)"},
    {"pttl", Cmd::kPTtl, 2, R | F, 1, 1, 1, "@keyspace @read @fast", "A key's time to live (ms)"},
    {"persist", Cmd::kPersist, 2, W | F, 1, 1, 1, "@keyspace @write @fast", "Remove a key's expiry"},
    {"expiretime", Cmd::kExpireTime, 2, R | F, 1, 1, 1, "@keyspace @read @fast", "A key's expiry (unix s)"},
    {"pexpiretime", Cmd::kPExpireTime, 2, R | F, 1, 1, 1, "@keyspace @read @fast", "A key's expiry (unix ms)"},
    {"scan", Cmd::kScan, -2, R, 0, 0, 0, "@keyspace @read @slow", "Iterate over the keys"},
    {"keys", Cmd::kKeys, 2, R, 0, 0, 0, "@keyspace @read @slow @dangerous", "Keys matching a pattern"},
    {"dbsize", Cmd::kDbSize, 1, R | F, 0, 0, 0, "@keyspace @read @fast", "The number of keys"},
    {"flushall", Cmd::kFlushAll, -1, W, 0, 0, 0, "@keyspace @write @slow @dangerous", "Delete every key"},
    {"flushdb", Cmd::kFlushDb, -1, W, 0, 0, 0, "@keyspace @write @slow @dangerous", "Delete every key"},
    {"type", Cmd::kType, 2, R | F, 1, 1, 1, "@keyspace @read @fast", "The type of a key's value"},
    {"ping", Cmd::kPing, -1, F | S, 0, 0, 0, "@fast @connection", "Ping the server"},
    {"echo", Cmd::kEcho, 2, F | L | S, 0, 0, 0, "@fast @connection", "Echo the argument"},
    {"hello", Cmd::kHello, -1, N | L | S | F | U, 0, 0, 0, "@fast @connection", "Handshake"},
    {"auth", Cmd::kAuth, -2, N | L | S | F | U, 0, 0, 0, "@fast @connection", "Authenticate"},
    {"select", Cmd::kSelect, 2, L | S | F, 0, 0, 0, "@fast @connection", "Select database 0"},
    {"client", Cmd::kClient, -2, N | L | S, 0, 0, 0, "@slow @connection", "Connection commands"},
    {"info", Cmd::kInfo, -1, L | S, 0, 0, 0, "@slow @dangerous", "Server information"},
    {"command", Cmd::kCommand, -1, L | S, 0, 0, 0, "@slow @connection", "Command descriptions"},
    {"time", Cmd::kTime, 1, L | S | F, 0, 0, 0, "@fast", "The server time"},
    {"wait", Cmd::kWait, 3, N, 0, 0, 0, "@slow @connection", "Wait for replicas"},
    {"quit", Cmd::kQuit, -1, N | L | S | F | U, 0, 0, 0, "@fast @connection", "Close the connection"},
    {"cluster", Cmd::kCluster, -2, 0, 0, 0, 0, "@slow", "Cluster commands"},
    {"readonly", Cmd::kReadOnly, 1, L | S | F, 0, 0, 0, "@fast @connection", "Let a replica serve reads"},
    {"readwrite", Cmd::kReadWrite, 1, L | S | F, 0, 0, 0, "@fast @connection", "Reads from primaries only"},
    {"bgsave", Cmd::kBgSave, -1, A | N, 0, 0, 0, "@admin @slow @dangerous", "Start a cluster backup"},
    {"save", Cmd::kSave, 1, A | N, 0, 0, 0, "@admin @slow @dangerous", "Back the cluster up and wait"},
    {"lastsave", Cmd::kLastSave, 1, L | S | F, 0, 0, 0, "@admin @fast @dangerous", "Time of the last backup"},
    {"config", Cmd::kConfig, -2, A | N | L | S, 0, 0, 0, "@admin @slow @dangerous", "Configuration (GET only)"},
};

constexpr SubcommandSpec kSubcommands[] = {
    {"client", "id", 2},         {"client", "getname", 2},       {"client", "setname", 3},
    {"client", "info", 2},       {"client", "list", -2},         {"client", "reply", 3},
    {"client", "setinfo", 4},    {"client", "help", 2},          {"command", "count", 2},
    {"command", "docs", -2},     {"command", "getkeys", -4},     {"command", "info", -2},
    {"command", "list", -2},     {"config", "get", -3},          {"config", "set", -4},
    {"config", "resetstat", 2},  {"cluster", "slots", 2},        {"cluster", "shards", 2},
    {"cluster", "nodes", 2},     {"cluster", "info", 2},         {"cluster", "myid", 2},
    {"cluster", "keyslot", 3},   {"cluster", "countkeysinslot", 3}, {"cluster", "getkeysinslot", 4},
    {"cluster", "help", 2},
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
  static constexpr std::array<std::pair<uint32_t, std::string_view>, 9> kNames{{
      {kFlagWrite, "write"}, {kFlagReadonly, "readonly"}, {kFlagDenyOom, "denyoom"},
      {kFlagAdmin, "admin"}, {kFlagNoScript, "noscript"}, {kFlagLoading, "loading"},
      {kFlagStale, "stale"}, {kFlagFast, "fast"}, {kFlagNoAuth, "no_auth"},
  }};
  std::vector<std::string_view> out;
  for (const auto& [bit, name] : kNames)
    if (flags & bit) out.push_back(name);
  return out;
}

}  // namespace cv::resp
