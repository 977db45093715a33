// The command table: every Redis command cachevault answers, with Redis's
// arity, flags and key positions, in one place. COMMAND's replies, the
// arity check, MOVED routing and -CROSSSLOT all read it.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace cv::resp {

// One value per command; the front end dispatches with an exhaustive switch.
enum class Cmd : uint8_t {
  kGet, kSet, kSetNx, kSetEx, kPSetEx, kGetSet, kMGet, kMSet, kDel, kUnlink, kExists,
  kIncr, kDecr, kIncrBy, kDecrBy, kIncrByFloat, kAppend, kStrlen, kGetDel, kGetEx, kGetRange, kSetRange, kMSetNx,
  kExpire, kPExpire, kExpireAt, kPExpireAt, kTtl, kPTtl, kPersist, kExpireTime, kPExpireTime,
  kScan, kKeys, kDbSize, kFlushAll, kFlushDb, kType, kTouch,
  kPing, kEcho, kHello, kAuth, kSelect, kClient, kInfo, kCommand, kTime, kWait, kQuit,
  kCluster, kReadOnly, kReadWrite, kBgSave, kSave, kLastSave, kConfig, kObject, kMemory,
};

// Flag bits, named as Redis's COMMAND reply names them.
enum CmdFlag : uint32_t {
  kFlagWrite = 1u << 0,
  kFlagReadonly = 1u << 1,
  kFlagDenyOom = 1u << 2,
  kFlagAdmin = 1u << 3,
  kFlagNoScript = 1u << 4,
  kFlagLoading = 1u << 5,
  kFlagStale = 1u << 6,
  kFlagFast = 1u << 7,
  kFlagNoAuth = 1u << 8,     // allowed before AUTH
  kFlagNoAsyncLoading = 1u << 9,
  kFlagNoMulti = 1u << 10,
  kFlagAllowBusy = 1u << 11,
};

struct CommandSpec {
  std::string_view name;  // lower case
  Cmd cmd;
  int arity;              // > 0: exactly; < 0: at least -arity (name included)
  uint32_t flags;         // CmdFlag bits
  int first_key;          // 0: no keys
  int last_key;           // -1: the last argument
  int step;
  std::string_view acl;   // ACL categories, space separated, e.g. "@read @string @fast"
  std::string_view summary;
  // COMMAND INFO's key specification of the keys first_key..last_key:
  // its flags as Redis lists them ("RW access update"), and its notes.
  std::string_view key_flags = {};
  std::string_view key_notes = {};
  std::string_view tips = {};  // space separated, e.g. "request_policy:all_shards"
};

// A subcommand of a container command (CLIENT, COMMAND, CONFIG, CLUSTER)
// that cachevault answers, with Redis's arity for it.
struct SubcommandSpec {
  std::string_view container;  // lower case
  std::string_view name;       // lower case
  int arity;                   // counts the container's name and this one's
  // The position of its one key (0: none), routed as a read's (OBJECT
  // ENCODING key, MEMORY USAGE key).
  int key = 0;
};

// Every command, in table order.
std::span<const CommandSpec> all_commands();
// The spec for a command name (any case), or nullptr.
const CommandSpec* find_command(std::string_view name);
// True if the command takes subcommands (Redis's container commands).
bool has_subcommands(const CommandSpec& spec);
// The subcommand `name` (any case) of `container`, or nullptr.
const SubcommandSpec* find_subcommand(std::string_view container, std::string_view name);
// True if argc (name included) satisfies the command's arity.
bool arity_ok(const CommandSpec& spec, size_t argc);
bool arity_ok(const SubcommandSpec& spec, size_t argc);
// Positions of the key arguments of a call (name at 0), from first/last/step.
std::vector<size_t> key_positions(const CommandSpec& spec, size_t argc);
// The names of the flag bits, as COMMAND lists them.
std::vector<std::string_view> flag_names(uint32_t flags);

}  // namespace cv::resp
