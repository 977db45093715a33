// Command-line parsing and dispatch. Each command group adds its
// subcommands in one function below; usage errors exit 2 with a message
// naming the flag; every command has --help with examples, exit codes and
// the environment it reads; every --json command reports a failure as
// {"error", "exit"} on stdout too (client/cli_output.h).
#include "launcher/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <memory>
#include <vector>

#include "cachevault/version.h"
#include "client/backup_command.h"
#include "client/cli_output.h"
#include "client/data_commands.h"
#include "client/inspect_verify.h"
#include "client/membership_command.h"
#include "client/restore_command.h"
#include "launcher/bench_command.h"
#include "launcher/child_main.h"
#include "launcher/cli_help.h"
#include "launcher/launcher.h"
#include "shm/block_layout.h"
#include "shm/messages.h"
#include "shm/failpoints.h"
#include "shm/logging.h"
#include "shm/status.h"

namespace cv::launcher {

namespace {

using client::kExitUsage;

// What the command groups share while the command line is parsed: the
// cluster name, the exit code of the command that ran, and the storage of
// each command's options (they must outlive parsing).
struct CliContext {
  std::string name;
  int rc = 0;
  std::vector<std::shared_ptr<void>> storage;

  template <class T>
  T* make() {
    auto p = std::make_shared<T>();
    storage.push_back(p);
    return p.get();
  }
};

std::string default_cluster() {
  const char* env = std::getenv("CACHEVAULT_CLUSTER");
  return env && *env ? env : "default";
}

void add_name(CLI::App* cmd, std::string* name) {
  cmd->add_option("--name", *name, "cluster name (default: $CACHEVAULT_CLUSTER or 'default')");
}

// --json: JSON on stdout, also for a failure.
CLI::Option* add_json(CLI::App* cmd, bool* json, const std::string& what) {
  return cmd->add_flag("--json", *json, what)->each([](const std::string&) { client::set_json_output(true); });
}

constexpr int64_t kMaxCount = int64_t(1) << 53;  // exact in a double, far above any real count
constexpr unsigned kEnvClient = kEnvCluster | kEnvFailpoints | kEnvLogLevel;

// Sizes take binary units: 100, 64K, 2M, 1GiB.
const CLI::AsSizeValue kSize(false);

// A number of seconds in [lo, hi]; CLI::Range would print both bounds with
// six decimals.
CLI::Validator seconds_in(double lo, double hi) {
  auto show = [](double v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%g", v);
    return std::string(buf);
  };
  return CLI::Validator(
      [=](std::string& in) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(in, v) || !(v >= lo && v <= hi))
          return "Value " + in + " is not a number of seconds from " + show(lo) + " to " + show(hi);
        return {};
      },
      "SECONDS in [" + show(lo) + " - " + show(hi) + "]");
}

void add_cluster_commands(CLI::App& app, CliContext& ctx) {
  auto* cluster = app.add_subcommand("cluster", "start or stop a cluster");
  cluster->require_subcommand(1);
  cluster->footer(help_footer({"cachevault cluster up --name demo --detach", "cachevault cluster down --name demo"},
                              kExitsCluster, kEnvCluster | kEnvFailpoints | kEnvLogLevel));

  auto* up = ctx.make<ClusterOptions>();
  up->name = ctx.name;
  auto* cmd = cluster->add_subcommand("up", "start a cluster: serving nodes and targets");
  cmd->add_option("--name", up->name, "cluster name (default: $CACHEVAULT_CLUSTER or 'default')");
  cmd->add_option("--nodes", up->nodes, "serving nodes (default 3)")->check(CLI::Range(1, shm::kMaxServingNodes));
  cmd->add_option("--replicas", up->replicas, "replicas of each record, R, at most --nodes (default 2)")
      ->check(CLI::Range(1, shm::kMaxReplicas));
  cmd->add_option("--targets", up->targets, "target nodes that receive backups (default 2)")
      ->check(CLI::Range(0, shm::kMaxTargets));
  cmd->add_option("--partitions", up->partitions, "partitions, P (default 256)")
      ->check(CLI::Range(1, shm::kMaxPartitions));
  cmd->add_option("--weights", up->weights, "node weights, comma-separated positive numbers (default all 1)");
  cmd->add_option("--dir", up->dir,
                  "data directory: logs, node copies, backups (default ./cachevault-data/<name>; kept after down)");
  cmd->add_option("--target-quota", up->target_quota,
                  "bytes each target may store: one size or one per target, e.g. 512M or 1G,2G");
  cmd->add_option("--node-memory", up->node_memory, "bytes each serving node may hold, e.g. 256M; writes past it are refused");
  // Redis protocol endpoints of the serving nodes.
  cmd->add_option("--port", up->port, "Redis port of node 0; node i gets PORT+i (default 0: free ports)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--requirepass", up->requirepass, "password every Redis connection must AUTH with");
  auto* detach = cmd->add_flag("--detach", up->detach, "return once every process is ready; the cluster keeps running");
  add_json(cmd, &up->json, "with --detach: print the new cluster's status object")->needs(detach);
  cmd->footer(help_footer({"cachevault cluster up --name ci-$$ --nodes 5 --replicas 3 --detach",
                           "cachevault cluster up --name big --node-memory 512M --target-quota 2G --detach",
                           "cachevault cluster up --name r --port 7000 --detach && redis-cli -c -p 7000 ping"},
                          "0 up (with --detach: every process ready), 1 could not start (already running, "
                          "a process failed), 2 usage error",
                          kEnvCluster | kEnvFailpoints | kEnvLogLevel));
  cmd->callback([up, &ctx] {
    ctx.rc = cluster_up(*up);
    if (ctx.rc == 0 && up->json) ctx.rc = client::cmd_status(up->name, true);
  });

  struct Down {
    std::string name;
    bool json = false;
  };
  auto* down = ctx.make<Down>();
  down->name = ctx.name;
  cmd = cluster->add_subcommand("down", "stop every process of a cluster and remove its block");
  add_name(cmd, &down->name);
  add_json(cmd, &down->json, "print {\"name\", \"stopped\"}");
  cmd->footer(help_footer({"cachevault cluster down --name demo"},
                          "0 stopped (or a stale block removed), 1 not running, 2 usage error", kEnvCluster));
  cmd->callback([down, &ctx] { ctx.rc = cluster_down(down->name, down->json); });

  struct StatusOpts {
    bool json = false;
    bool watch = false;
    int count = 0;
  };
  auto* st = ctx.make<StatusOpts>();
  cmd = app.add_subcommand("status", "nodes, distribution table summary and backup schedules");
  add_name(cmd, &ctx.name);
  add_json(cmd, &st->json, "print the status object (docs/json.md)");
  auto* watch = cmd->add_flag("--watch", st->watch, "redraw the view every second until interrupted");
  cmd->add_option("--count", st->count, "with --watch: stop after this many views")
      ->check(CLI::Range(1, 1 << 30))
      ->needs(watch);
  watch->excludes("--json");
  cmd->footer(help_footer({"cachevault status --name demo", "cachevault status --json | jq '.nodes[] | {id, state}'",
                           "cachevault status --watch"},
                          kExitsCluster, kEnvCluster | kEnvLogLevel));
  cmd->callback([st, &ctx] {
    ctx.rc = st->watch ? client::cmd_status_watch(ctx.name, st->count) : client::cmd_status(ctx.name, st->json);
  });
}

void add_data_commands(CLI::App& app, CliContext& ctx) {
  struct Put {
    std::string key, value, value_file;
    bool json = false;
  };
  auto* put = ctx.make<Put>();
  auto* cmd = app.add_subcommand("put", "write one record");
  add_name(cmd, &ctx.name);
  cmd->add_option("KEY", put->key, "key (1 B to 1 KiB)")->required();
  auto* value_opt = cmd->add_option("VALUE", put->value, "value (up to 16 MiB; --value-file for long ones)");
  auto* file_opt = cmd->add_option("--value-file", put->value_file, "read the value from this file ('-': stdin), byte for byte");
  value_opt->excludes(file_opt);
  add_json(cmd, &put->json, "print {\"key\", \"version\", \"bytes\"}");
  cmd->footer(help_footer({"cachevault put user:1 '{\"name\":\"ada\"}'", "cachevault put blob --value-file photo.jpg"},
                          kExitsCluster, kEnvClient));
  cmd->callback([put, value_opt, file_opt, &ctx] {
    if (value_opt->count() == 0 && file_opt->count() == 0) {
      ctx.rc = client::report_error(kExitUsage, "put needs a VALUE or --value-file");
      return;
    }
    ctx.rc = file_opt->count() ? client::cmd_put_file(ctx.name, put->key, put->value_file, put->json)
                               : client::cmd_put(ctx.name, put->key, put->value, put->json);
  });

  struct Get {
    std::string key;
    client::GetOptions o;
  };
  auto* get = ctx.make<Get>();
  cmd = app.add_subcommand("get", "print one record's value, byte for byte; exit 1 if absent");
  add_name(cmd, &ctx.name);
  cmd->add_option("KEY", get->key, "key")->required();
  cmd->add_flag("--raw", get->o.raw, "never add a newline (one is added only when stdout is a terminal)");
  add_json(cmd, &get->o.json, "print {\"key\", \"value\", \"version\", \"timestamp\"} (value base64 if not UTF-8)");
  cmd->footer(help_footer({"cachevault get user:1", "cachevault get blob > photo.jpg   # the exact bytes put"},
                          "0 found, 1 absent or cluster unreachable, 2 usage error", kEnvClient));
  cmd->callback([get, &ctx] { ctx.rc = client::cmd_get(ctx.name, get->key, get->o); });

  struct Del {
    std::string key;
    bool json = false;
  };
  auto* del = ctx.make<Del>();
  cmd = app.add_subcommand("del", "delete one record");
  add_name(cmd, &ctx.name);
  cmd->add_option("KEY", del->key, "key")->required();
  add_json(cmd, &del->json, "print {\"key\", \"version\"}");
  cmd->footer(help_footer({"cachevault del user:1"}, kExitsCluster, kEnvClient));
  cmd->callback([del, &ctx] { ctx.rc = client::cmd_del(ctx.name, del->key, del->json); });

  auto* load = ctx.make<client::LoadOptions>();
  cmd = app.add_subcommand("load", "write synthetic records");
  add_name(cmd, &ctx.name);
  cmd->add_option("--records", load->records, "how many records (keys <prefix>0000000000 up)")
      ->required()
      ->check(CLI::Range(int64_t(1), kMaxCount));
  cmd->add_option("--value-size", load->value_size, "value bytes, up to 16M (default 100)")
      ->transform(kSize)
      ->check(CLI::Range(uint64_t(0), uint64_t(shm::kMaxValueBytes)));
  cmd->add_option("--seed", load->seed, "seed of the values (default 1)")->check(CLI::Range(int64_t(0), INT64_MAX));
  cmd->add_option("--key-prefix", load->key_prefix, "key prefix (default 'key-')");
  cmd->add_option("--ack-log", load->ack_log, "append key<TAB>version for every acknowledged write");
  cmd->add_option("--duration", load->duration_s, "keep rewriting the records for this many seconds")
      ->check(seconds_in(0, 1e9));
  cmd->add_option("--window", load->window, "batches in flight (default 8)")->check(CLI::Range(1, 1024));
  cmd->add_flag("--latency", load->latency, "report write latency (max, p99, p50) in the summary");
  cmd->add_flag("--quiet", load->quiet, "no progress display");
  add_json(cmd, &load->json, "print {\"records\", \"seconds\", \"records_per_s\", \"failed_retries\"}");
  cmd->footer(help_footer({"cachevault load --records 100000 --value-size 1K",
                           "cachevault load --records 1000 --duration 30 --ack-log acks.tsv"},
                          kExitsCluster, kEnvClient));
  cmd->callback([load, &ctx] { ctx.rc = client::cmd_load(ctx.name, *load); });

  auto* scan_json = ctx.make<bool>();
  cmd = app.add_subcommand("scan", "every live record, newest replica per key, sorted by key");
  add_name(cmd, &ctx.name);
  add_json(cmd, scan_json, "JSON lines {key, value, version, timestamp}");
  cmd->footer(help_footer({"cachevault scan --json | jq -r .key"}, kExitsCluster, kEnvClient));
  cmd->callback([scan_json, &ctx] { ctx.rc = client::cmd_scan(ctx.name, *scan_json); });
}

void add_backup_commands(CLI::App& app, CliContext& ctx) {
  auto* backup = ctx.make<client::BackupOptions>();
  auto* cmd = app.add_subcommand("backup", "back the cluster up into one consolidated file");
  add_name(cmd, &ctx.name);
  cmd->add_option("--out", backup->out_dir, "directory of the backup file (default <dir>/backups)");
  cmd->add_option("--wait", backup->wait_id, "follow backup ID, started elsewhere, to its end")
      ->check(CLI::Range(int64_t(1), INT64_MAX));
  cmd->add_option("--timeout", backup->timeout_s, "give up following after this many seconds (default 600)")
      ->check(seconds_in(0.001, 1e9));
  cmd->add_flag("--quiet", backup->quiet, "no progress display");
  cmd->add_flag("--allow-partial", backup->allow_partial,
                "with lost partitions, back up the rest; the file lists the missing ones");
  add_json(cmd, &backup->json, "print {id, file, records, bytes, state, seconds}");
  cmd->footer(help_footer({"cachevault backup --out /var/backups/cache", "cachevault backup --json | jq -r .file"},
                          kExitsCluster, kEnvClient));
  cmd->callback([backup, &ctx] { ctx.rc = client::cmd_backup(ctx.name, *backup); });

  auto* restore = ctx.make<client::RestoreOptions>();
  cmd = app.add_subcommand("restore", "stream a backup file into the running cluster");
  add_name(cmd, &ctx.name);
  cmd->add_option("FILE", restore->file, "backup file")->required();
  cmd->add_option("--window", restore->window, "requests in flight; 1 is strict stop-and-wait (default 16)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--policy", restore->policy, "newer (default), overwrite or skip-existing")
      ->check(CLI::IsMember({"newer", "overwrite", "skip-existing"}));
  cmd->add_flag("--resume", restore->resume, "continue an interrupted restore of FILE");
  cmd->add_option("--entry-node", restore->entry_node, "serving node that receives the writes (default the first up)")
      ->check(CLI::Range(0, shm::kMaxServingNodes - 1));
  cmd->add_option("--checkpoint", restore->checkpoint, "progress file (default <cluster dir>/restore/)");
  cmd->add_option("--limit", restore->limit, "restore only the first N records (for measurements)")
      ->check(CLI::Range(int64_t(1), kMaxCount));
  cmd->add_flag("--quiet", restore->quiet, "no progress display");
  add_json(cmd, &restore->json, "print {records, stale, failed_retries, seconds, records_per_s}");
  cmd->footer(help_footer({"cachevault restore cachevault-data/demo/backups/demo-*.cvb",
                           "cachevault restore FILE --resume   # after an interrupted restore"},
                          "0 restored, 1 runtime failure (progress saved for --resume), 2 usage error, "
                          "3 corrupt or unreadable file (nothing written)",
                          kEnvClient));
  cmd->callback([restore, &ctx] { ctx.rc = client::cmd_restore(ctx.name, *restore); });
}

// Membership: the cluster changes shape while it serves.
void add_membership_commands(CLI::App& app, CliContext& ctx) {
  auto* node = app.add_subcommand("node", "start, add or remove a serving node (its data moves first)");
  node->require_subcommand(1);
  node->footer(help_footer({"cachevault node start 1", "cachevault node add --weight 2", "cachevault node remove 0"},
                           kExitsCluster, kEnvClient));
  auto common = [&](CLI::App* cmd, client::MembershipOptions* o, const char* json_shape) {
    add_name(cmd, &ctx.name);
    cmd->add_option("--timeout", o->timeout_s, "give up following after this many seconds (default 600)")
        ->check(CLI::Range(1, 1000000000));
    add_json(cmd, &o->json, json_shape);
  };
  const char* kNodeJson = "print {id, pid, partitions, records_received, seconds}";

  auto* start = ctx.make<client::MembershipOptions>();
  start->op = shm::MemberOp::kStart;
  auto* cmd = node->add_subcommand("start", "bring a serving node that is down (or fenced) back; it receives its "
                                            "partitions' data before it serves them");
  cmd->add_option("ID", start->node, "serving node id")->required()->check(CLI::Range(0, shm::kMaxServingNodes - 1));
  common(cmd, start, kNodeJson);
  cmd->footer(help_footer({"cachevault node start 1", "cachevault node start 1 --json | jq .records_received"},
                          kExitsCluster, kEnvClient));
  cmd->callback([start, &ctx] { ctx.rc = client::cmd_membership(ctx.name, *start); });

  auto* add = ctx.make<client::MembershipOptions>();
  add->op = shm::MemberOp::kAdd;
  cmd = node->add_subcommand("add", "add a serving node with the next id and move its share of partitions onto it");
  cmd->add_option("--weight", add->weight, "its weight (default 1)")->check(CLI::Range(0.001, 1e6));
  common(cmd, add, kNodeJson);
  cmd->footer(help_footer({"cachevault node add", "cachevault node add --weight 2 --json"}, kExitsCluster,
                          kEnvClient));
  cmd->callback([add, &ctx] { ctx.rc = client::cmd_membership(ctx.name, *add); });

  auto* remove = ctx.make<client::MembershipOptions>();
  remove->op = shm::MemberOp::kRemove;
  cmd = node->add_subcommand("remove", "move every partition a node holds to the others, then stop it (refused if "
                                       "the others cannot hold R copies)");
  cmd->add_option("ID", remove->node, "serving node id")->required()->check(CLI::Range(0, shm::kMaxServingNodes - 1));
  common(cmd, remove, "print {id, moved_partitions, moved_records, seconds}");
  cmd->footer(help_footer({"cachevault node remove 2"}, kExitsCluster, kEnvClient));
  cmd->callback([remove, &ctx] { ctx.rc = client::cmd_membership(ctx.name, *remove); });

  auto* rebalance = ctx.make<client::MembershipOptions>();
  rebalance->op = shm::MemberOp::kRebalance;
  cmd = app.add_subcommand("rebalance", "recompute the distribution table and move data to match it");
  cmd->add_option("--by", rebalance->by, "weights (the configured ones, default) or measured (each node's speed)")
      ->check(CLI::IsMember({"weights", "measured"}));
  cmd->add_flag("--accept-loss", rebalance->accept_loss,
                "lost partitions start again, empty, on live nodes (their records are gone)");
  common(cmd, rebalance, "print {moved_partitions, moved_records, seconds, weights}");
  cmd->footer(help_footer({"cachevault rebalance", "cachevault rebalance --by measured --json"}, kExitsCluster,
                          kEnvClient));
  cmd->callback([rebalance, &ctx] { ctx.rc = client::cmd_membership(ctx.name, *rebalance); });
}

void add_file_commands(CLI::App& app, CliContext& ctx) {
  struct FileOpts {
    std::string file;
    bool json = false;
    bool records = false;
  };
  auto* inspect = ctx.make<FileOpts>();
  auto* cmd = app.add_subcommand("inspect", "header, counts, key range and blocks of a backup file");
  cmd->add_option("FILE", inspect->file, "backup file")->required();
  add_json(cmd, &inspect->json, "print the inspect object (docs/json.md)");
  cmd->add_flag("--records", inspect->records, "print the records as JSON lines shaped like scan --json");
  cmd->footer(help_footer({"cachevault inspect backup.cvb", "cachevault inspect backup.cvb --records | wc -l"},
                          kExitsFile, kEnvLogLevel));
  cmd->callback([inspect, &ctx] { ctx.rc = client::run_inspect(inspect->file, inspect->json, inspect->records); });

  auto* verify = ctx.make<FileOpts>();
  cmd = app.add_subcommand("verify", "check every checksum of a backup file (exit 3 if corrupt)");
  cmd->add_option("FILE", verify->file, "backup file")->required();
  add_json(cmd, &verify->json, "print {file, ok, records, blocks, bytes, file_checksum}");
  cmd->footer(help_footer({"cachevault verify backup.cvb && echo sound"}, kExitsFile, kEnvLogLevel));
  cmd->callback([verify, &ctx] { ctx.rc = client::run_verify(verify->file, verify->json); });
}

void add_tool_commands(CLI::App& app, CliContext& ctx) {
  auto* fp_json = ctx.make<bool>();
  auto* cmd = app.add_subcommand("failpoints", "list the failpoint names of CACHEVAULT_FAILPOINTS");
  add_json(cmd, fp_json, "print {\"failpoints\": [{\"name\", \"description\"}]}");
  cmd->footer(help_footer({"cachevault failpoints",
                           "CACHEVAULT_FAILPOINTS='backup.node.copy@node1=crash' cachevault backup"},
                          "0", 0));
  cmd->callback([fp_json] {
    if (*fp_json) {
      nlohmann::ordered_json list = nlohmann::ordered_json::array();
      for (const auto& f : known_failpoints()) list.push_back({{"name", f.name}, {"description", f.description}});
      nlohmann::ordered_json j;
      j["failpoints"] = std::move(list);
      client::print_json(std::move(j));
      return;
    }
    for (const auto& f : known_failpoints()) printf("%s\t%s\n", f.name, f.description);
  });

  auto* bench = ctx.make<BenchOptions>();
  cmd = app.add_subcommand("bench", "load, back up and restore on real clusters and report figures");
  cmd->add_option("--records", bench->records, "records (default 1000000)")->check(CLI::Range(int64_t(1), kMaxCount));
  cmd->add_option("--value-size", bench->value_size, "value bytes, up to 16M (default 100)")
      ->transform(kSize)
      ->check(CLI::Range(uint64_t(0), uint64_t(shm::kMaxValueBytes)));
  cmd->add_option("--nodes", bench->nodes, "serving nodes (default 3)")->check(CLI::Range(1, shm::kMaxServingNodes));
  cmd->add_option("--replicas", bench->replicas, "replicas, at most --nodes (default 2)")
      ->check(CLI::Range(1, shm::kMaxReplicas));
  cmd->add_option("--dir", bench->dir, "scratch directory (default a new one under /tmp)");
  cmd->add_option("--plot", bench->plot, "also run 100k, 1M and 4M records and draw an SVG");
  add_json(cmd, &bench->json, "print one JSON object (docs/benchmark.md)");
  cmd->footer(help_footer({"cachevault bench --records 200000 --json"},
                          "0 done, 1 a step failed, 2 usage error", kEnvFailpoints | kEnvLogLevel));
  cmd->callback([bench, &ctx] { ctx.rc = run_bench(*bench); });

  struct Serve {
    std::string cluster, role;
    int index = 0;
  };
  auto* serve = ctx.make<Serve>();
  cmd = app.add_subcommand("__serve", "");
  cmd->group("");  // hidden: the launcher starts cluster processes with it
  cmd->add_option("--cluster", serve->cluster)->required();
  cmd->add_option("--role", serve->role)->required();
  cmd->add_option("--index", serve->index)->required();
  cmd->callback([serve, &ctx] { ctx.rc = run_child(serve->cluster, serve->role, serve->index); });
}

// "unknown command 'x'" when a word where a command belongs names none;
// empty otherwise. CLI11 alone would say "A subcommand is required" or
// "arguments were not expected".
std::string unknown_command(CLI::App& app, int argc, char** argv) {
  CLI::App* at = &app;
  std::string path = "cachevault";
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') return "";
    if (at->get_subcommands({}).empty()) return "";
    CLI::App* next = nullptr;
    try {
      next = at->get_subcommand(word);
    } catch (const CLI::OptionNotFound&) {
    }
    if (next == nullptr) {
      std::string names;
      for (CLI::App* sub : at->get_subcommands({}))
        if (!sub->get_group().empty()) names += (names.empty() ? "" : ", ") + sub->get_name();
      return "unknown command '" + path + " " + word + "' (commands: " + names + ")";
    }
    at = next;
    path += " " + word;
  }
  return "";
}

bool has_flag(int argc, char** argv, const char* flag) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == flag) return true;
  return false;
}

}  // namespace

// Overwrites the value of --requirepass in this process's own argv, which
// any local user can read in /proc/PID/cmdline (ps), and which the detached
// launcher keeps for its whole life. The parser gets a copy first.
static void hide_password(int argc, char** argv) {
  constexpr std::string_view kFlag = "--requirepass";
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    char* secret = nullptr;
    if (a == kFlag && i + 1 < argc) secret = argv[i + 1];
    else if (a.size() > kFlag.size() && a.substr(0, kFlag.size() + 1) == std::string(kFlag) + "=")
      secret = argv[i] + kFlag.size() + 1;
    if (secret) std::memset(secret, '*', std::strlen(secret));
  }
}

int run_cli(int argc, char** argv) {
  // Client commands honour CACHEVAULT_FAILPOINTS as the process "client" and
  // log to stderr (warnings and up unless CACHEVAULT_LOG_LEVEL says
  // otherwise), never to stdout, which carries results. Cluster processes
  // and the launcher set up their own.
  const std::string first = argc > 1 ? argv[1] : "";
  if (first != "__serve" && first != "cluster") {
    init_stderr_logger("client");
    if (Status s = init_failpoints("client"); !s) {
      if (has_flag(argc, argv, "--json")) client::set_json_output(true);
      return client::report_error(kExitUsage, s.message());
    }
  }
  // Named, so usage lines (and the man pages made from them) say
  // "cachevault", not the path the binary was started by.
  CLI::App app{"cachevault " CACHEVAULT_VERSION
                   ": a multi-process cache cluster on one host, with backup, consolidation and restore",
               "cachevault"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every command");
  app.set_version_flag("--version", "cachevault " CACHEVAULT_VERSION, "print 'cachevault X.Y.Z' and exit");
  app.footer(help_footer({"cachevault cluster up --name demo --detach", "cachevault load --name demo --records 100000",
                          "cachevault backup --name demo", "cachevault COMMAND --help"},
                         "0 success, 1 runtime failure (message on stderr), 2 usage error, "
                         "3 corrupt or unreadable data file",
                         kEnvCluster | kEnvFailpoints | kEnvLogLevel));
  CliContext ctx;
  ctx.name = default_cluster();
  add_cluster_commands(app, ctx);
  add_data_commands(app, ctx);
  add_backup_commands(app, ctx);
  add_membership_commands(app, ctx);
  add_file_commands(app, ctx);
  add_tool_commands(app, ctx);

  if (std::string unknown = unknown_command(app, argc, argv); !unknown.empty()) {
    fprintf(stderr, "cachevault: %s\nrun 'cachevault --help' for usage\n", unknown.c_str());
    return kExitUsage;
  }
  std::vector<std::string> arg_copy(argv, argv + argc);
  std::vector<char*> arg_ptrs;
  for (std::string& a : arg_copy) arg_ptrs.push_back(a.data());
  hide_password(argc, argv);
  try {
    app.parse(argc, arg_ptrs.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // A usage error of a --json command is reported as JSON too; the flag
    // may not have been parsed yet, so look for it in argv.
    if (has_flag(argc, argv, "--json")) client::set_json_output(true);
    client::report_error(kExitUsage, e.what());
    fprintf(stderr, "run 'cachevault --help' (or 'cachevault COMMAND --help') for usage\n");
    return kExitUsage;
  }
  if (ctx.rc != 0 && client::json_output() && !client::json_error_printed())
    client::print_json_error(ctx.rc, "the command failed; its message is on stderr");
  return ctx.rc;
}

}  // namespace cv::launcher
