// Command-line parsing and dispatch. Usage errors exit 2 with a message
// naming the flag; every command has --help.
#include "launcher/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "client/backup_command.h"
#include "client/data_commands.h"
#include "client/inspect_verify.h"
#include "client/restore_command.h"
#include "launcher/bench_command.h"
#include "launcher/child_main.h"
#include "launcher/launcher.h"
#include "shm/status.h"
#include "shm/failpoints.h"

namespace cv::launcher {

namespace {

std::string default_cluster() {
  const char* env = std::getenv("CACHEVAULT_CLUSTER");
  return env && *env ? env : "default";
}

void add_name(CLI::App* cmd, std::string* name) {
  cmd->add_option("--name", *name, "cluster name (default: $CACHEVAULT_CLUSTER or 'default')");
}

}  // namespace

int run_cli(int argc, char** argv) {
  // Client commands honour CACHEVAULT_FAILPOINTS as the process "client";
  // cluster processes and the launcher set up their own.
  const std::string first = argc > 1 ? argv[1] : "";
  if (first != "__serve" && first != "cluster") {
    if (Status s = init_failpoints("client"); !s) {
      fprintf(stderr, "cachevault: %s\n", s.message().c_str());
      return 2;
    }
  }
  CLI::App app{"cachevault: a multi-process cache cluster on one host, with backup, consolidation and restore"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every command");
  std::string name = default_cluster();
  int rc = 0;

  // cluster up / down
  auto* cluster = app.add_subcommand("cluster", "start or stop a cluster");
  cluster->require_subcommand(1);
  ClusterOptions up;
  up.name = name;
  auto* up_cmd = cluster->add_subcommand("up", "start a cluster: serving nodes and targets");
  up_cmd->add_option("--name", up.name, "cluster name (default: $CACHEVAULT_CLUSTER or 'default')");
  up_cmd->add_option("--nodes", up.nodes, "serving nodes (default 3)");
  up_cmd->add_option("--replicas", up.replicas, "replicas of each record, R (default 2)");
  up_cmd->add_option("--targets", up.targets, "target nodes that receive backups (default 2)");
  up_cmd->add_option("--partitions", up.partitions, "partitions, P (default 256)");
  up_cmd->add_option("--weights", up.weights, "node weights, comma-separated (default all 1)");
  up_cmd->add_option("--dir", up.dir, "data directory (default ./cachevault-data/<name>)");
  up_cmd->add_option("--target-quota", up.target_quota, "bytes each target may store: one size or one per target");
  up_cmd->add_option("--node-memory", up.node_memory, "bytes each serving node may hold; writes past it are refused");
  up_cmd->add_flag("--detach", up.detach, "return once every process is ready; the cluster keeps running");
  // Redis protocol endpoints of the serving nodes.
  up_cmd->add_option("--port", up.port, "Redis port of node 0; node i gets PORT+i (default 0: free ports)");
  up_cmd->add_option("--requirepass", up.requirepass, "password every Redis connection must AUTH with");
  up_cmd->callback([&] { rc = cluster_up(up); });
  std::string down_name = name;
  auto* down_cmd = cluster->add_subcommand("down", "stop every process of a cluster and remove its block");
  add_name(down_cmd, &down_name);
  down_cmd->callback([&] { rc = cluster_down(down_name); });

  bool json = false;
  auto* status = app.add_subcommand("status", "nodes, distribution table summary and backup schedules");
  add_name(status, &name);
  status->add_flag("--json", json, "print JSON");
  status->callback([&] { rc = client::cmd_status(name, json); });

  std::string key, value, value_file;
  auto* put = app.add_subcommand("put", "write one record");
  add_name(put, &name);
  put->add_option("KEY", key, "key (1 B to 1 KiB)")->required();
  auto* value_opt = put->add_option("VALUE", value, "value (up to 1 MiB)");
  auto* file_opt = put->add_option("--value-file", value_file, "read the value from this file ('-': stdin)");
  value_opt->excludes(file_opt);
  put->callback([&] {
    if (value_opt->count() == 0 && file_opt->count() == 0) {
      fprintf(stderr, "cachevault: put needs a VALUE or --value-file\n");
      rc = 2;
      return;
    }
    rc = file_opt->count() ? client::cmd_put_file(name, key, value_file) : client::cmd_put(name, key, value);
  });
  auto* get = app.add_subcommand("get", "print one record's value; exit 1 if absent");
  add_name(get, &name);
  get->add_option("KEY", key, "key")->required();
  get->callback([&] { rc = client::cmd_get(name, key); });
  auto* del = app.add_subcommand("del", "delete one record");
  add_name(del, &name);
  del->add_option("KEY", key, "key")->required();
  del->callback([&] { rc = client::cmd_del(name, key); });

  client::LoadOptions load;
  auto* load_cmd = app.add_subcommand("load", "write synthetic records");
  add_name(load_cmd, &name);
  load_cmd->add_option("--records", load.records, "how many records")->required();
  load_cmd->add_option("--value-size", load.value_size, "value bytes (default 100)");
  load_cmd->add_option("--seed", load.seed, "seed of the values (default 1)");
  load_cmd->add_option("--key-prefix", load.key_prefix, "key prefix (default 'key-')");
  load_cmd->add_option("--ack-log", load.ack_log, "append key<TAB>version for every acknowledged write");
  load_cmd->add_option("--duration", load.duration_s, "keep rewriting the records for this many seconds");
  load_cmd->add_option("--window", load.window, "batches in flight (default 8)")->check(CLI::Range(1, 1024));
  load_cmd->add_flag("--latency", load.latency, "report write latency (max, p99, p50) in the summary");
  load_cmd->add_flag("--json", load.json, "print a JSON summary");
  load_cmd->callback([&] { rc = client::cmd_load(name, load); });

  auto* scan = app.add_subcommand("scan", "every live record, newest replica per key, sorted by key");
  add_name(scan, &name);
  scan->add_flag("--json", json, "JSON lines {key, value, version, timestamp}");
  scan->callback([&] { rc = client::cmd_scan(name, json); });

  client::BackupOptions backup;
  auto* backup_cmd = app.add_subcommand("backup", "back the cluster up into one consolidated file");
  add_name(backup_cmd, &name);
  backup_cmd->add_option("--out", backup.out_dir, "directory of the backup file (default <dir>/backups)");
  backup_cmd->add_option("--wait", backup.wait_id, "follow backup ID, started elsewhere, to its end");
  backup_cmd->add_option("--timeout", backup.timeout_s, "give up following after this many seconds (default 600)");
  backup_cmd->add_flag("--json", backup.json, "print {id, file, records, bytes, state, seconds}");
  backup_cmd->callback([&] { rc = client::cmd_backup(name, backup); });

  client::RestoreOptions restore;
  std::string policy = "newer";
  auto* restore_cmd = app.add_subcommand("restore", "stream a backup file into the running cluster");
  add_name(restore_cmd, &name);
  restore_cmd->add_option("FILE", restore.file, "backup file")->required();
  restore_cmd->add_option("--window", restore.window, "requests in flight; 1 is strict stop-and-wait")
      ->check(CLI::Range(1, 1024));
  restore_cmd->add_option("--policy", policy, "newer (default), overwrite or skip-existing")
      ->check(CLI::IsMember({"newer", "overwrite", "skip-existing"}));
  restore_cmd->add_flag("--resume", restore.resume, "continue an interrupted restore of FILE");
  restore_cmd->add_option("--entry-node", restore.entry_node, "serving node that receives the writes");
  restore_cmd->add_option("--checkpoint", restore.checkpoint, "progress file (default <cluster dir>/restore/)");
  restore_cmd->add_option("--limit", restore.limit, "restore only the first N records (for measurements)");
  restore_cmd->add_flag("--json", restore.json, "print {records, stale, failed_retries, seconds, records_per_s}");
  restore_cmd->callback([&] {
    restore.policy = policy;
    rc = client::cmd_restore(name, restore);
  });

  std::string file;
  bool records = false;
  auto* inspect = app.add_subcommand("inspect", "header, counts, key range and blocks of a backup file");
  inspect->add_option("FILE", file, "backup file")->required();
  inspect->add_flag("--json", json, "print JSON");
  inspect->add_flag("--records", records, "print the records as JSON lines");
  inspect->callback([&] { rc = client::run_inspect(file, json, records); });
  auto* verify = app.add_subcommand("verify", "check every checksum of a backup file (exit 3 if corrupt)");
  verify->add_option("FILE", file, "backup file")->required();
  verify->callback([&] { rc = client::run_verify(file); });

  auto* fps = app.add_subcommand("failpoints", "list the failpoint names of CACHEVAULT_FAILPOINTS");
  fps->callback([&] {
    for (const auto& f : known_failpoints()) printf("%s\t%s\n", f.name, f.description);
  });

  BenchOptions bench;
  auto* bench_cmd = app.add_subcommand("bench", "load, back up and restore on real clusters and report figures");
  bench_cmd->add_option("--records", bench.records, "records (default 1000000)");
  bench_cmd->add_option("--value-size", bench.value_size, "value bytes (default 100)");
  bench_cmd->add_option("--nodes", bench.nodes, "serving nodes (default 3)");
  bench_cmd->add_option("--replicas", bench.replicas, "replicas (default 2)");
  bench_cmd->add_option("--dir", bench.dir, "scratch directory (default a new one under /tmp)");
  bench_cmd->add_option("--plot", bench.plot, "also run 100k, 1M and 4M records and draw an SVG");
  bench_cmd->add_flag("--json", bench.json, "print one JSON object");
  bench_cmd->callback([&] { rc = run_bench(bench); });

  std::string serve_cluster, serve_role;
  int serve_index = 0;
  auto* serve = app.add_subcommand("__serve", "");
  serve->group("");  // hidden: the launcher starts cluster processes with it
  serve->add_option("--cluster", serve_cluster)->required();
  serve->add_option("--role", serve_role)->required();
  serve->add_option("--index", serve_index)->required();
  serve->callback([&] { rc = run_child(serve_cluster, serve_role, serve_index); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    fprintf(stderr, "cachevault: %s\n", what.c_str());
    fprintf(stderr, "run 'cachevault --help' (or 'cachevault COMMAND --help') for usage\n");
    return 2;
  }
  return rc;
}

}  // namespace cv::launcher
