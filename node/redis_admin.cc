// Connection and server commands of the Redis front end: HELLO, AUTH,
// CLIENT, COMMAND, INFO, CONFIG GET, SCAN, KEYS, FLUSHALL, BGSAVE, SAVE,
// LASTSAVE.
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <map>

#include "cachevault/version.h"
#include "node/distribution.h"
#include "node/redis_service.h"
#include "node/write_ops.h"
#include "resp/glob.h"
#include "resp/key_slot.h"
#include "shm/clock.h"

namespace cv::node {

using resp::Cmd;

namespace {

constexpr std::string_view kRedisVersion = "7.0.15";  // the Redis whose commands we answer

std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = char(std::tolower((unsigned char)c));
  return o;
}

std::string upper(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = char(std::toupper((unsigned char)c));
  return o;
}

std::string unknown_subcommand(std::string_view cmd, std::string_view sub) {
  return "ERR unknown subcommand '" + std::string(sub.substr(0, 128)) + "'. Try " + upper(cmd) + " HELP.";
}

// Redis's answer to a known subcommand called with the wrong arguments
// ("command|count"), or to an unknown one.
std::string subcommand_error(std::string_view cmd, std::string_view sub, std::initializer_list<std::string_view> known) {
  const std::string l = lower(sub);
  for (auto k : known)
    if (l == k) return "ERR wrong number of arguments for '" + std::string(cmd) + "|" + l + "' command";
  return unknown_subcommand(cmd, sub);
}

bool password_matches(const shm::BlockLayout& b, std::string_view pass) {
  const std::string_view want(b.config.requirepass, strnlen(b.config.requirepass, sizeof b.config.requirepass));
  return !want.empty() && pass == want;
}

// Redis's ACLAuthenticateUser for its one user, "default": without a
// password configured that user takes any password (nopass).
bool user_authenticates(const shm::BlockLayout& b, std::string_view user, std::string_view pass) {
  if (user != "default") return false;
  return b.config.requirepass[0] == 0 || password_matches(b, pass);
}

// Redis's clientSetNameOrReply check: printable ASCII without spaces.
bool valid_client_name(std::string_view name) {
  for (char ch : name)
    if (ch < '!' || ch > '~') return false;
  return true;
}

constexpr std::string_view kBadClientName = "ERR Client names cannot contain spaces, newlines or special characters.";

uint64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * uint64_t(sysconf(_SC_PAGESIZE));
}

}  // namespace

void RedisService::cmd_hello(Connection& c, const std::vector<std::string_view>& a) {
  int proto = c.protocol;
  size_t i = 1;
  if (a.size() > 1) {
    int64_t v = 0;
    if (!parse_int64(a[1], &v)) return c.reply().error("ERR Protocol version is not an integer or out of range");
    if (v < 2 || v > 3) return c.reply().error("NOPROTO unsupported protocol version");
    proto = int(v);
    i = 2;
  }
  // As Redis: each option takes effect as it is read, so an AUTH or
  // SETNAME before a bad option stays done.
  for (; i < a.size(); ++i) {
    const std::string o = lower(a[i]);
    if (o == "auth" && i + 2 < a.size()) {
      if (!user_authenticates(b_, a[i + 1], a[i + 2]))
        return c.reply().error("WRONGPASS invalid username-password pair or user is disabled.");
      c.authenticated = true;
      i += 2;
    } else if (o == "setname" && i + 1 < a.size()) {
      if (!valid_client_name(a[i + 1])) return c.reply().error(kBadClientName);
      c.name = std::string(a[i + 1]);
      ++i;
    } else {
      return c.reply().error("ERR Syntax error in HELLO option '" + std::string(a[i]) + "'");
    }
  }
  if (!c.authenticated)
    return c.reply().error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> "
        "<pass> option can be used to authenticate the client and select the RESP protocol version at the same "
        "time");
  c.protocol = proto;
  resp::ReplyWriter w = c.reply();
  w.map(7);
  w.bulk("server");
  w.bulk("redis");
  w.bulk("version");
  w.bulk(kRedisVersion);
  w.bulk("proto");
  w.integer(proto);
  w.bulk("id");
  w.integer(int64_t(c.id));
  w.bulk("mode");
  w.bulk("cluster");
  w.bulk("role");
  w.bulk("master");
  w.bulk("modules");
  w.array(0);
}

void RedisService::cmd_auth(Connection& c, const std::vector<std::string_view>& a) {
  if (a.size() > 3) return c.reply().error("ERR syntax error");
  if (a.size() == 2 && b_.config.requirepass[0] == 0)
    return c.reply().error(
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your "
        "configuration is correct?");
  if (!user_authenticates(b_, a.size() == 2 ? "default" : a[1], a.back()))
    return c.reply().error("WRONGPASS invalid username-password pair or user is disabled.");
  c.authenticated = true;
  c.reply().ok();
}

std::string RedisService::client_info(const Connection& c) const {
  const uint64_t age = (wall_ns() - std::min(wall_ns(), c.created_ns)) / 1'000'000'000ull;
  return "id=" + std::to_string(c.id) + " addr=" + c.peer + " laddr=127.0.0.1:" + std::to_string(node_port(id_)) +
         " fd=0 name=" + c.name + " age=" + std::to_string(age) + " idle=0 flags=" + (c.readonly ? "r" : "N") +
         " db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 obl=0 oll=0 omem=0 "
         "tot-mem=0 events=r cmd=" + (c.last_command.empty() ? "NULL" : c.last_command) +
         " user=default redir=-1 resp=" + std::to_string(c.protocol);
}

void RedisService::cmd_client(Connection& c, const std::vector<std::string_view>& a) {
  const std::string sub = lower(a[1]);
  resp::ReplyWriter w = c.reply();
  if (sub == "id" && a.size() == 2) return w.integer(int64_t(c.id));
  if (sub == "getname" && a.size() == 2) return c.name.empty() ? w.null() : w.bulk(c.name);
  if (sub == "setname" && a.size() == 3) {
    if (!valid_client_name(a[2])) return w.error(kBadClientName);
    c.name = std::string(a[2]);
    return w.ok();
  }
  if (sub == "info" && a.size() == 2) return w.verbatim(client_info(c) + "\n");
  if (sub == "list") {
    // CLIENT LIST [TYPE type | ID id ...], as Redis 7.0 reads it; every
    // connection here is of type normal.
    std::string out;
    if (a.size() == 4 && lower(a[2]) == "type") {
      const std::string type = lower(a[3]);
      if (type != "normal" && type != "master" && type != "slave" && type != "replica" && type != "pubsub")
        return w.error("ERR Unknown client type '" + std::string(a[3]) + "'");
      if (type != "normal") return w.verbatim(out);
    } else if (a.size() > 3 && lower(a[2]) == "id") {
      for (size_t i = 3; i < a.size(); ++i) {
        int64_t want = 0;
        if (!parse_int64(a[i], &want)) return w.error("ERR Invalid client ID");
        auto it = connections_.find(uint64_t(want));
        if (auto other = it == connections_.end() ? nullptr : it->second.lock()) out += client_info(*other) + "\n";
      }
      return w.verbatim(out);
    } else if (a.size() != 2) {
      return w.error("ERR syntax error");
    }
    for (const auto& [id, weak] : connections_)
      if (auto other = weak.lock()) out += client_info(*other) + "\n";
    return w.verbatim(out);
  }
  if (sub == "setinfo" && a.size() == 4) {
    // Redis 7.2's, which newer clients send on connect; checked as 7.2
    // checks it (the values are not kept: 7.0's CLIENT INFO has no field).
    const std::string attr = lower(a[2]);
    if (attr != "lib-name" && attr != "lib-ver") return w.error("ERR Unrecognized option '" + std::string(a[2]) + "'");
    if (!valid_client_name(a[3]))
      return w.error("ERR " + std::string(a[2]) + " cannot contain spaces, newlines or special characters.");
    return w.ok();
  }
  if (sub == "reply" && a.size() == 3) {
    const std::string mode = lower(a[2]);
    if (mode == "on") return w.ok();
    if (mode == "off" || mode == "skip") return w.error("ERR CLIENT REPLY " + upper(mode) + " is not supported here");
    return w.error("ERR syntax error");
  }
  if (sub == "help") {
    w.array(5);
    w.simple("CLIENT <subcommand> [<arg> ...]. Subcommands are:");
    w.simple("ID | GETNAME | SETNAME <name> | INFO | LIST");
    w.simple("SETINFO <attr> <value>");
    w.simple("REPLY ON");
    w.simple("HELP");
    return;
  }
  w.error(subcommand_error("client", a[1], {"id", "getname", "setname", "info", "setinfo", "reply"}));
}

namespace {

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  for (std::string_view rest = text; !rest.empty();) {
    const size_t sp = rest.find(' ');
    out.push_back(rest.substr(0, sp));
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
  }
  return out;
}

void simple_set(resp::ReplyWriter& w, const std::vector<std::string_view>& items) {
  w.set(items.size());
  for (auto x : items) w.simple(x);
}

// COMMAND INFO's entry, as Redis 7.0's addReplyCommandInfo lays it out.
void command_entry(resp::ReplyWriter& w, const resp::CommandSpec& s) {
  w.array(10);
  w.bulk(s.name);
  w.integer(s.arity);
  simple_set(w, resp::flag_names(s.flags));
  w.integer(s.first_key);
  w.integer(s.last_key);
  w.integer(s.step);
  simple_set(w, words(s.acl));
  const auto tips = words(s.tips);
  w.set(tips.size());
  for (auto t : tips) w.bulk(t);
  // One key specification: an index and a range, from first/last/step.
  w.set(s.first_key > 0 ? 1 : 0);
  if (s.first_key > 0) {
    w.map(s.key_notes.empty() ? 3 : 4);
    if (!s.key_notes.empty()) {
      w.bulk("notes");
      w.bulk(s.key_notes);
    }
    w.bulk("flags");
    simple_set(w, words(s.key_flags));
    w.bulk("begin_search");
    w.map(2);
    w.bulk("type");
    w.bulk("index");
    w.bulk("spec");
    w.map(1);
    w.bulk("index");
    w.integer(s.first_key);
    w.bulk("find_keys");
    w.map(2);
    w.bulk("type");
    w.bulk("range");
    w.bulk("spec");
    w.map(3);
    w.bulk("lastkey");
    w.integer(s.last_key < 0 ? s.last_key : s.last_key - s.first_key);
    w.bulk("keystep");
    w.integer(s.step);
    w.bulk("limit");
    w.integer(0);
  }
  w.set(0);  // subcommands: not listed
}

}  // namespace

void RedisService::cmd_command(Connection& c, const std::vector<std::string_view>& a) {
  resp::ReplyWriter w = c.reply();
  const auto all = resp::all_commands();
  if (a.size() == 1) {
    w.array(all.size());
    for (const auto& s : all) command_entry(w, s);
    return;
  }
  const std::string sub = lower(a[1]);
  if (sub == "count" && a.size() == 2) return w.integer(int64_t(all.size()));
  if (sub == "list") {
    // COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN glob]
    std::string_view filter, arg;
    if (a.size() == 5 && lower(a[2]) == "filterby") {
      filter = a[3];
      arg = a[4];
      const std::string f = lower(filter);
      if (f != "module" && f != "aclcat" && f != "pattern") return w.error("ERR syntax error");
    } else if (a.size() != 2) {
      return w.error("ERR syntax error");
    }
    const std::string f = lower(filter);
    std::vector<std::string_view> names;
    for (const auto& s : all) {
      if (f == "module") continue;  // no module commands here
      if (f == "aclcat") {
        const std::string cat = "@" + lower(arg);
        const std::string cats = " " + std::string(s.acl) + " ";
        if (cats.find(" " + cat + " ") == std::string::npos) continue;
      }
      if (f == "pattern" && !resp::glob_match(arg, s.name, true)) continue;
      names.push_back(s.name);
    }
    w.array(names.size());
    for (auto n : names) w.bulk(n);
    return;
  }
  if (sub == "info") {
    if (a.size() == 2) {
      w.array(all.size());
      for (const auto& s : all) command_entry(w, s);
      return;
    }
    w.array(a.size() - 2);
    for (size_t i = 2; i < a.size(); ++i) {
      const resp::CommandSpec* s = resp::find_command(a[i]);
      s ? command_entry(w, *s) : w.null();
    }
    return;
  }
  if (sub == "docs") {
    std::vector<const resp::CommandSpec*> want;
    if (a.size() == 2) {
      for (const auto& s : all) want.push_back(&s);
    } else {
      for (size_t i = 2; i < a.size(); ++i)
        if (const resp::CommandSpec* s = resp::find_command(a[i])) want.push_back(s);
    }
    w.map(want.size());
    for (const auto* s : want) {
      w.bulk(s->name);
      w.map(3);
      w.bulk("summary");
      w.bulk(s->summary);
      w.bulk("since");
      w.bulk("1.0.0");
      w.bulk("group");
      w.bulk(s->first_key > 0 ? "string" : "server");
    }
    return;
  }
  if (sub == "getkeys" && a.size() >= 3) {
    const resp::CommandSpec* s = resp::find_command(a[2]);
    if (!s) return w.error("ERR Invalid command specified");
    std::vector<std::string_view> args(a.begin() + 2, a.end());
    // A container's key is its subcommand's (OBJECT ENCODING key).
    if (const resp::SubcommandSpec* sc = resp::has_subcommands(*s) && args.size() >= 2
                                             ? resp::find_subcommand(s->name, args[1])
                                             : nullptr;
        sc != nullptr && sc->key > 0) {
      if (!resp::arity_ok(*sc, args.size())) return w.error("ERR Invalid number of arguments specified for command");
      w.array(1);
      return w.bulk(args[size_t(sc->key)]);
    }
    if (s->first_key <= 0) return w.error("ERR The command has no key arguments");
    if (!resp::arity_ok(*s, args.size())) return w.error("ERR Invalid number of arguments specified for command");
    const auto keys = resp::key_positions(*s, args.size());
    if (keys.empty()) return w.error("ERR Invalid arguments specified for command");
    w.array(keys.size());
    for (size_t k : keys) w.bulk(args[k]);
    return;
  }
  if (sub == "help") {
    w.array(6);
    w.simple("COMMAND <subcommand> [<arg> ...]. Subcommands are:");
    w.simple("(no subcommand) | INFO [<command-name> ...]");
    w.simple("COUNT | LIST [FILTERBY (MODULE <name>|ACLCAT <category>|PATTERN <pattern>)]");
    w.simple("DOCS [<command-name> ...]");
    w.simple("GETKEYS <full-command>");
    w.simple("HELP");
    return;
  }
  w.error(subcommand_error("command", a[1], {"count", "list", "getkeys"}));
}

void RedisService::cmd_config(Connection& c, const std::vector<std::string_view>& a) {
  resp::ReplyWriter w = c.reply();
  // The settings clients ask for (redis-benchmark reads save and appendonly).
  const std::string port = std::to_string(node_port(id_));
  const std::vector<std::pair<std::string, std::string>> known{
      {"save", ""}, {"appendonly", "no"}, {"cluster-enabled", "yes"}, {"databases", "1"}, {"port", port},
      {"maxmemory", std::to_string(b_.config.node_memory)}, {"proto-max-bulk-len", std::to_string(shm::kMaxValueBytes)},
      {"maxmemory-policy", "noeviction"}, {"timeout", "0"}, {"maxclients", "10000"},
  };
  const std::string sub = lower(a[1]);
  if (sub == "help") {
    w.array(4);
    w.simple("CONFIG <subcommand> [<arg> ...]. Subcommands are:");
    w.simple("GET <pattern> [<pattern> ...]");
    w.simple("SET <parameter> <value> [...] (only to the value it already has) | RESETSTAT");
    w.simple("HELP");
    return;
  }
  if (sub == "resetstat") {
    keyspace_hits_ = keyspace_misses_ = total_commands_ = 0;
    return w.ok();
  }
  if (sub == "set") {
    // Nothing can be changed at run time; setting a value to what it
    // already is (test set-ups often turn persistence off) is fine.
    if (a.size() % 2 != 0) return w.error("ERR wrong number of arguments for 'config|set' command");
    for (size_t i = 2; i < a.size(); i += 2) {
      const std::string name = lower(a[i]);
      const auto it = std::find_if(known.begin(), known.end(), [&](const auto& kv) { return kv.first == name; });
      if (it == known.end())
        return w.error("ERR Unknown option or number of arguments for CONFIG SET - '" + std::string(a[i]) + "'");
      if (lower(a[i + 1]) != it->second)
        return w.error("ERR CONFIG SET failed (possibly related to argument '" + std::string(a[i]) +
                       "') - cachevault cannot change it at run time");
    }
    return w.ok();
  }
  std::vector<const std::pair<std::string, std::string>*> hits;
  for (const auto& kv : known)
    for (size_t i = 2; i < a.size(); ++i)
      if (resp::glob_match(a[i], kv.first, true)) {
        hits.push_back(&kv);
        break;
      }
  w.map(hits.size());
  for (const auto* kv : hits) {
    w.bulk(kv->first);
    w.bulk(kv->second);
  }
}

void RedisService::cmd_scan(Connection& c, const std::vector<std::string_view>& a) {
  // The cursor is the next hash slot to look at: it means the same under
  // any table, so a scan survives partitions moving; each call covers
  // whole slots, so no key of a slot is left between two calls.
  // Read as Redis's parseScanCursorOrReply reads it (strtoul: a sign is
  // taken, "-1" wraps to the largest cursor); any cursor past the last
  // slot has nothing left.
  uint64_t cursor = 0;
  {
    const std::string text(a[1]);
    char* end = nullptr;
    errno = 0;
    cursor = std::strtoull(text.c_str(), &end, 10);
    if ((!text.empty() && std::isspace((unsigned char)text[0])) || *end != '\0' || errno == ERANGE)
      return c.reply().error("ERR invalid cursor");
  }
  std::string_view pattern;
  bool has_pattern = false;
  int64_t count = 10;
  for (size_t i = 2; i < a.size(); ++i) {
    const std::string o = lower(a[i]);
    if (o == "match" && i + 1 < a.size()) {
      pattern = a[++i];
      has_pattern = true;
    } else if (o == "count" && i + 1 < a.size()) {
      if (!parse_int64(a[++i], &count)) return c.reply().error("ERR value is not an integer or out of range");
      if (count < 1) return c.reply().error("ERR syntax error");
    } else if (o == "type" && i + 1 < a.size()) {
      // Every value here is a string: another type matches no key.
      if (lower(a[++i]) != "string") {
        resp::ReplyWriter w = c.reply();
        w.array(2);
        w.bulk("0");
        w.array(0);
        return;
      }
    } else {
      return c.reply().error("ERR syntax error");
    }
  }
  shm::refresh_table(b_, &table_);
  std::vector<std::string> keys;
  uint32_t slot = uint32_t(std::min<uint64_t>(cursor, resp::kSlotCount));
  while (slot < resp::kSlotCount && keys.size() < size_t(count)) {
    const uint32_t p = partition_of_slot(slot, store_.partitions());
    const uint32_t end = first_slot_of(p + 1, store_.partitions());
    if (!primary_here(p)) {
      slot = end;
      continue;
    }
    // One pass over the partition gives the keys of its slots from `slot`
    // on; they are handed out whole slots at a time.
    std::map<uint32_t, std::vector<std::string>> by_slot;
    const uint64_t now_ms = shm::wall_ms();
    store_.for_each(p, [&](std::string_view k, const RecordRef& r) {
      if (r.tombstone || shm::is_expired(r.expire_ms, now_ms)) return;
      const uint32_t s = resp::key_slot(k);
      if (s < slot) return;
      if (has_pattern && !resp::glob_match(pattern, k)) return;
      by_slot[s].emplace_back(k);
    });
    for (auto& [s, ks] : by_slot) {
      if (keys.size() >= size_t(count)) {
        slot = s;
        break;
      }
      for (auto& k : ks) keys.push_back(std::move(k));
      slot = s + 1;
    }
    if (keys.size() < size_t(count)) slot = end;
  }
  resp::ReplyWriter w = c.reply();
  w.array(2);
  w.bulk(slot >= resp::kSlotCount ? "0" : std::to_string(slot));
  w.array(keys.size());
  for (const auto& k : keys) w.bulk(k);
}

void RedisService::cmd_keys(Connection& c, const std::vector<std::string_view>& a) {
  shm::refresh_table(b_, &table_);
  std::vector<std::string> keys;
  const uint64_t now_ms = shm::wall_ms();
  for (uint32_t p = 0; p < store_.partitions(); ++p) {
    if (!primary_here(p)) continue;
    store_.for_each(p, [&](std::string_view k, const RecordRef& r) {
      if (!r.tombstone && !shm::is_expired(r.expire_ms, now_ms) && resp::glob_match(a[1], k)) keys.emplace_back(k);
    });
  }
  resp::ReplyWriter w = c.reply();
  w.array(keys.size());
  for (const auto& k : keys) w.bulk(k);
}

void RedisService::cmd_flush(Connection& c, const std::vector<std::string_view>& a) {
  if (a.size() > 2 || (a.size() == 2 && lower(a[1]) != "sync" && lower(a[1]) != "async"))
    return c.reply().error("ERR syntax error");
  // As in Redis Cluster, a node empties the slots it is primary for; the
  // deletes travel the normal write path, so replicas and backups see them.
  shm::refresh_table(b_, &table_);
  std::vector<std::string> keys;
  for (uint32_t p = 0; p < store_.partitions(); ++p) {
    if (!primary_here(p)) continue;
    store_.for_each(p, [&](std::string_view k, const RecordRef& r) {
      if (!r.tombstone) keys.emplace_back(k);
    });
  }
  if (keys.empty()) return c.reply().ok();
  auto op = make_op(c, Cmd::kFlushAll, 0, keys.size());
  for (size_t i = 0; i < keys.size(); ++i) queue_write(op, uint32_t(i), shm::RecOp::kDelete, 0, keys[i], {});
}

void RedisService::cmd_bgsave(Connection& c, const std::vector<std::string_view>& a, bool wait) {
  if (a.size() > 2 || (a.size() == 2 && lower(a[1]) != "schedule")) return c.reply().error("ERR syntax error");
  // The same request `cachevault backup` sends: this node generates the
  // schedule from the table and the cluster's backup protocol runs it; the
  // file goes to <dir>/backups under a new name.
  const uint64_t id = next_request_++;
  Status s = node_inbox_.send(uint16_t(shm::MsgType::kBackupRequest), uint16_t(my_mailbox_), my_generation_, id, {},
                              Deadline::in_ms(2000));
  if (!s) return c.reply().error("ERR could not ask node " + std::to_string(id_) + " for a backup: " + s.message());
  auto conn = c.shared_from_this();
  auto slot = c.defer();
  Inflight f{shm::MsgType::kBackupRequest, {}, mono_ns(), nullptr, {}};
  f.on_answer = [this, conn, slot, wait](const std::string* payload) {
    resp::ReplyWriter w(&slot->bytes, conn->protocol);
    shm::BackupReplyWire r{};
    if (!payload || payload->size() < sizeof r) {
      w.error("ERR the node did not answer the backup request");
    } else {
      std::memcpy(&r, payload->data(), sizeof r);
      if (Code(r.code) != Code::kOk) {
        w.error("ERR Background save refused: " + payload->substr(sizeof r));
      } else if (!wait) {
        last_bgsave_id_ = r.schedule_id;
        w.simple("Background saving started");
      } else {
        last_bgsave_id_ = r.schedule_id;
        // SAVE answers once the backup completed (a backup runs for as
        // long as its data takes; an hour bounds a stuck one).
        return wait_for_backup(r.schedule_id, conn, slot, mono_ns() + 3600ull * 1'000'000'000ull);
      }
    }
    slot->done = true;
    conn->flush();
  };
  inflight_.emplace(id, std::move(f));
}

void RedisService::wait_for_backup(uint64_t schedule_id, std::shared_ptr<Connection> c,
                                   std::shared_ptr<ReplySlot> slot, uint64_t deadline_ns) {
  const shm::ScheduleSlot* found = nullptr;
  for (const auto& s : b_.schedules)
    if (s.id == schedule_id) found = &s;
  const auto st = found ? shm::ScheduleState(found->state.load()) : shm::ScheduleState::kFailed;
  const bool over = st == shm::ScheduleState::kConsolidationCompleted || st == shm::ScheduleState::kFailed;
  if (!over && mono_ns() < deadline_ns) {
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(50));
    timer->async_wait([this, timer, schedule_id, c, slot, deadline_ns](boost::system::error_code ec) {
      if (!ec) wait_for_backup(schedule_id, c, slot, deadline_ns);
    });
    return;
  }
  resp::ReplyWriter w(&slot->bytes, c->protocol);
  if (st == shm::ScheduleState::kConsolidationCompleted) w.ok();
  else if (!found) w.error("ERR backup " + std::to_string(schedule_id) + " is no longer in the block");
  else if (st == shm::ScheduleState::kFailed) w.error(std::string("ERR backup failed: ") + found->error);
  else w.error("ERR backup " + std::to_string(schedule_id) + " did not complete in time");
  slot->done = true;
  c->flush();
}

void RedisService::cmd_lastsave(Connection& c) {
  // The wall-clock second the last backup of this cluster completed.
  uint64_t best = 0;
  for (const auto& s : b_.schedules) {
    if (s.id == 0 || shm::ScheduleState(s.state.load()) != shm::ScheduleState::kConsolidationCompleted) continue;
    const uint64_t done = s.created_ns + (s.completed_mono_ns - std::min(s.completed_mono_ns, s.started_mono_ns));
    best = std::max(best, done);
  }
  c.reply().integer(int64_t(best / 1'000'000'000ull));
}

std::string RedisService::info_text(std::string_view section) {
  const std::string want = lower(section);
  const bool all = want.empty() || want == "all" || want == "everything" || want == "default";
  std::string out;
  auto add = [&](std::string_view name, const std::string& body) {
    if (!all && want != name) return;
    if (!out.empty()) out += "\r\n";
    std::string title(name == "cpu" ? "CPU" : name);
    title[0] = char(std::toupper((unsigned char)title[0]));
    out += "# " + title + "\r\n" + body;
  };
  const uint64_t up_s = (mono_ns() - started_ns_) / 1'000'000'000ull;
  const int port = node_port(id_);
  if (all || want == "server")
    add("server", "redis_version:" + std::string(kRedisVersion) + "\r\nredis_mode:cluster\r\nos:Linux\r\n" +
                      "arch_bits:64\r\nprocess_id:" + std::to_string(getpid()) + "\r\ntcp_port:" +
                      std::to_string(port) + "\r\nuptime_in_seconds:" + std::to_string(up_s) +
                      "\r\nuptime_in_days:" + std::to_string(up_s / 86400) + "\r\ncachevault_version:" CACHEVAULT_VERSION "\r\ncachevault_cluster:" +
                      block_.cluster() + "\r\ncachevault_node:" + std::to_string(id_) + "\r\n");
  if (all || want == "clients")
    add("clients", "connected_clients:" + std::to_string(connections_.size()) +
                       "\r\nmaxclients:10000\r\nblocked_clients:0\r\n");
  if (all || want == "memory") {
    const uint64_t used = store_.bytes();
    add("memory", "used_memory:" + std::to_string(used) + "\r\nused_memory_rss:" + std::to_string(rss_bytes()) +
                      "\r\nmaxmemory:" + std::to_string(b_.config.node_memory) +
                      "\r\nmaxmemory_policy:noeviction\r\ncachevault_records:" + std::to_string(store_.records()) +
                      "\r\n");
  }
  if (all || want == "persistence") {
    bool in_progress = false;
    uint64_t last_id = 0;
    std::string last_status = "ok";
    for (const auto& s : b_.schedules) {
      if (s.id == 0) continue;
      const auto st = shm::ScheduleState(s.state.load());
      if (st != shm::ScheduleState::kConsolidationCompleted && st != shm::ScheduleState::kFailed) in_progress = true;
      else if (s.id > last_id) {
        last_id = s.id;
        last_status = st == shm::ScheduleState::kFailed ? "err" : "ok";
      }
    }
    std::string lastsave;
    {
      uint64_t best = 0;
      for (const auto& s : b_.schedules)
        if (s.id != 0 && shm::ScheduleState(s.state.load()) == shm::ScheduleState::kConsolidationCompleted)
          best = std::max(best, s.created_ns + (s.completed_mono_ns - std::min(s.completed_mono_ns, s.started_mono_ns)));
      lastsave = std::to_string(best / 1'000'000'000ull);
    }
    add("persistence", "loading:0\r\nrdb_bgsave_in_progress:" + std::string(in_progress ? "1" : "0") +
                           "\r\nrdb_last_save_time:" + lastsave + "\r\nrdb_last_bgsave_status:" + last_status +
                           "\r\naof_enabled:0\r\n");
  }
  if (all || want == "stats")
    add("stats", "total_connections_received:" + std::to_string(total_connections_) +
                     "\r\ntotal_commands_processed:" + std::to_string(total_commands_) +
                     "\r\ninstantaneous_ops_per_sec:" + std::to_string(b_.nodes[id_].requests_per_s.load()) +
                     "\r\nkeyspace_hits:" + std::to_string(keyspace_hits_) +
                     "\r\nkeyspace_misses:" + std::to_string(keyspace_misses_) + "\r\nrejected_connections:0\r\n");
  if (all || want == "replication")
    add("replication", "role:master\r\nconnected_slaves:0\r\ncachevault_replicas:" +
                           std::to_string(b_.config.replicas) +
                           "\r\ncachevault_write_ack:every_replica\r\n"
                           "cachevault_replication:synchronous (a write is answered once all " +
                           std::to_string(b_.config.replicas) + " copies hold it; WAIT returns " +
                           std::to_string(b_.config.replicas - 1) + " at once)\r\n");
  if (all || want == "cpu") {
    // getrusage of the node process, its children and this (network) thread.
    auto secs = [](const timeval& t) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%ld.%06ld", long(t.tv_sec), long(t.tv_usec));
      return std::string(buf);
    };
    rusage self{}, children{}, thread{};
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    getrusage(RUSAGE_THREAD, &thread);
    add("cpu", "used_cpu_sys:" + secs(self.ru_stime) + "\r\nused_cpu_user:" + secs(self.ru_utime) +
                   "\r\nused_cpu_sys_children:" + secs(children.ru_stime) +
                   "\r\nused_cpu_user_children:" + secs(children.ru_utime) +
                   "\r\nused_cpu_sys_main_thread:" + secs(thread.ru_stime) +
                   "\r\nused_cpu_user_main_thread:" + secs(thread.ru_utime) + "\r\n");
  }
  if (all || want == "modules") add("modules", "");
  if (all || want == "cluster") add("cluster", "cluster_enabled:1\r\n");
  if (all || want == "keyspace") {
    uint64_t expires = 0, avg_ttl_ms = 0;
    const uint64_t n = count_primary_keys(&expires, &avg_ttl_ms);
    add("keyspace", n ? "db0:keys=" + std::to_string(n) + ",expires=" + std::to_string(expires) +
                            ",avg_ttl=" + std::to_string(avg_ttl_ms) + "\r\n"
                      : "");
  }
  return out;
}

void RedisService::cmd_info(Connection& c, const std::vector<std::string_view>& a) {
  std::string text;
  if (a.size() == 1) text = info_text("");
  for (size_t i = 1; i < a.size(); ++i) text += (text.empty() ? "" : "\r\n") + info_text(a[i]);
  c.reply().verbatim(text);
}

}  // namespace cv::node
