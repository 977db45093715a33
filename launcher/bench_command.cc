// bench: load, backup and restore on real clusters, with a memcpy of the same
// bytes measured in the same run as the machine's yardstick.
#include "launcher/bench_command.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "client/cli_output.h"
#include "launcher/bench_plot.h"
#include "launcher/subprocess.h"
#include "shm/limits.h"

namespace cv::launcher {

namespace {

using nlohmann::json;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best of three single-threaded copies of `bytes` (capped at 1 GiB).
double memcpy_gb_per_s(uint64_t bytes) {
  bytes = std::max<uint64_t>(std::min<uint64_t>(bytes, 1ull << 30), 1 << 20);
  std::vector<char> src(bytes, 'x'), dst(bytes, 'y');  // both touched: no page faults in the timing
  double best = 0;
  for (int i = 0; i < 3; ++i) {
    double t0 = now_s();
    std::memcpy(dst.data(), src.data(), bytes);
    double t = now_s() - t0;
    if (dst[bytes / 2] != 'x') return 0;
    best = std::max(best, double(bytes) / t / 1e9);
  }
  return best;
}

json parse_last_json(const std::string& out) {
  auto i = out.rfind("\n{");
  return json::parse(i == std::string::npos ? out : out.substr(i + 1), nullptr, false);
}

uint64_t proc_status_bytes(int pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stoull(line.substr(std::strlen(field))) * 1024;
  return 0;
}

// Milliseconds the hypervisor kept this machine's CPUs from running it
// ("steal" in /proc/stat); 0 on bare metal. On a virtual machine, a stall
// of a few ms can be the host's doing, not ours: the benchmark says how
// much of it there was.
uint64_t steal_ms() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t v[8] = {};
  in >> cpu;
  for (auto& x : v) in >> x;
  return v[7] * 1000 / uint64_t(sysconf(_SC_CLK_TCK));
}

struct Cluster {
  std::string name;
  std::string dir;
  bool up = false;
};

struct Failure {
  std::string what;
};

json must(const ChildResult& r, const std::string& what) {
  if (r.rc != 0) throw Failure{what + " failed (exit " + std::to_string(r.rc) + "): " + r.err};
  json j = parse_last_json(r.out);
  if (j.is_discarded()) throw Failure{what + " printed no JSON: " + r.out};
  return j;
}

void cluster_up(Cluster& c, const BenchOptions& o) {
  ChildResult r = run_self({"cluster", "up", "--name", c.name, "--dir", c.dir, "--nodes", std::to_string(o.nodes),
                            "--replicas", std::to_string(o.replicas), "--targets", "2", "--detach"});
  if (r.rc != 0) throw Failure{"cluster up " + c.name + ": " + r.err};
  c.up = true;
}

void cluster_down(Cluster& c) {
  if (c.up) run_self({"cluster", "down", "--name", c.name});
  c.up = false;
}

std::vector<std::pair<std::string, int>> process_pids(const Cluster& c) {
  std::vector<std::pair<std::string, int>> pids;
  json st = must(run_self({"status", "--json", "--name", c.name}), "status");
  for (const auto& n : st["nodes"]) pids.emplace_back(n["role"].get<std::string>(), n["pid"].get<int>());
  return pids;
}

// Membership on the restored cluster: how fast a node's death is repaired
// (every partition back to R copies, from the live replicas) and how fast a
// new node receives its share, with a window-1 writer timing its writes
// during the node add.
void membership_figures(Cluster& c, const BenchOptions& o, const std::string& base, json* out) {
  json st = must(run_self({"status", "--json", "--name", c.name}), "status");
  int victim = -1, pid = 0;
  uint64_t held = 0;
  for (const auto& n : st["nodes"])
    if (n["role"] == "serving" && n["state"] == "up") {
      victim = n["id"].get<int>();
      pid = n["pid"].get<int>();
      held = n["records"].get<uint64_t>();
    }
  if (victim < 0 || o.nodes < 2) return;
  const double t0 = now_s();
  kill(pid, SIGKILL);
  double healed = 0;
  while (now_s() - t0 < 600) {
    json s = must(run_self({"status", "--json", "--name", c.name}), "status");
    const auto& h = s["partition_health"];
    if (s["nodes"][victim]["state"] == "down" && h.value("moving", 1) == 0 &&
        h.value("under_replicated", 1) == 0 && h.value("lost", 1) == 0) {
      healed = now_s() - t0;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (healed <= 0) throw Failure{"re-replication did not finish within 600 s"};
  (*out)["rereplication_seconds"] = healed;
  (*out)["rereplication_records"] = held;
  (*out)["rereplication_records_per_s"] = double(held) / healed;

  const std::string probe_out = base + "/move-probe.json";
  int probe = start_self({"load", "--name", c.name, "--records", "20000", "--key-prefix", "probe-", "--window", "1",
                          "--duration", "3", "--value-size", std::to_string(o.value_size), "--latency", "--json"},
                         probe_out);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  json add = must(run_self({"node", "add", "--name", c.name, "--json"}), "node add");
  wait_child(probe);
  std::ifstream pin(probe_out);
  std::string probe_text((std::istreambuf_iterator<char>(pin)), std::istreambuf_iterator<char>());
  json during = parse_last_json(probe_text);
  const double secs = add.value("seconds", 0.0);
  (*out)["node_add_seconds"] = secs;
  (*out)["node_add_records"] = add["records_received"];
  (*out)["node_add_records_per_s"] = secs > 0 ? add["records_received"].get<double>() / secs : 0;
  (*out)["write_stall_during_move_max_ms"] = during.value("latency_max_ms", 0.0);
  (*out)["write_stall_during_move_p99_ms"] = during.value("latency_p99_ms", 0.0);
}

json run_once(const BenchOptions& o, const std::string& base, std::vector<Cluster*>& live) {
  const std::string tag = std::to_string(getpid()) + "-" + std::to_string(o.records);
  Cluster a{"bench-a-" + tag, base + "/a"}, b{"bench-b-" + tag, base + "/b"}, c{"bench-c-" + tag, base + "/c"};
  live = {&a, &b, &c};
  json out;
  out["records"] = o.records;
  out["value_size"] = o.value_size;
  out["nodes"] = o.nodes;
  out["replicas"] = o.replicas;

  cluster_up(a, o);
  json load = must(run_self({"load", "--name", a.name, "--records", std::to_string(o.records), "--value-size",
                             std::to_string(o.value_size), "--json"}),
                   "load");
  out["load_records_per_s"] = load["records_per_s"];

  // Write latency without a backup (then during a second one, below): a
  // window-1 writer on its own keys, one write per request.
  const double backup_estimate_s = std::max(3.0, double(o.records) / 300000.0);
  auto probe_args = [&](double secs) {
    return std::vector<std::string>{"load",          "--name",   a.name,   "--records", "20000", "--key-prefix",
                                    "probe-",        "--window", "1",      "--duration", std::to_string(secs),
                                    "--value-size",  std::to_string(o.value_size), "--latency", "--json"};
  };
  json calm = must(run_self(probe_args(2.0)), "latency probe");
  out["write_latency_max_ms"] = calm["latency_max_ms"];
  out["write_latency_p99_ms"] = calm["latency_p99_ms"];

  // A backup of the idle cluster, as BGSAVE is timed on an idle Redis.
  json backup = must(run_self({"backup", "--name", a.name, "--out", base + "/backups", "--json"}), "backup");
  uint64_t input_bytes = 0;
  for (const auto& n : backup["nodes"]) input_bytes += n["bytes"].get<uint64_t>();
  out["backup_seconds"] = backup["seconds"];
  out["snapshot_seconds"] = backup["snapshot_seconds"];
  out["transfer_seconds"] = backup["transfer_seconds"];
  out["consolidate_seconds"] = backup["consolidate_seconds"];
  out["consolidate_input_bytes"] = input_bytes;
  const double cs = backup["consolidate_seconds"].get<double>();
  out["consolidate_gb_per_s"] = cs > 0 ? double(input_bytes) / cs / 1e9 : 0;
  out["file_bytes"] = backup["bytes"];
  const std::string file = backup["file"];
  // The nodes and the target free the first backup's copies in the
  // background; a second later the cluster is quiet again.
  std::this_thread::sleep_for(std::chrono::seconds(1));

  // The memory of a hot backup is read on the second one, whose writes make
  // nodes keep old values.
  auto pids = process_pids(a);
  uint64_t rss_before = 0;
  for (auto& [role, pid] : pids) {
    if (role == "serving") rss_before = std::max(rss_before, proc_status_bytes(pid, "VmRSS:"));
    std::ofstream("/proc/" + std::to_string(pid) + "/clear_refs") << "5";  // resets VmHWM
  }
  const std::string probe_out = base + "/probe.json";
  const uint64_t steal_before = steal_ms();
  int probe = start_self(probe_args(backup_estimate_s), probe_out);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  json hot = must(run_self({"backup", "--name", a.name, "--out", base + "/backups", "--json"}), "backup under writes");
  wait_child(probe);
  std::ifstream pin(probe_out);
  std::string probe_text((std::istreambuf_iterator<char>(pin)), std::istreambuf_iterator<char>());
  json during = parse_last_json(probe_text);
  out["write_stall_max_ms"] = during.value("latency_max_ms", 0.0);
  out["write_stall_p99_ms"] = during.value("latency_p99_ms", 0.0);
  out["backup_under_writes_seconds"] = hot["seconds"];
  out["cpu_steal_ms_under_writes"] = steal_ms() - steal_before;

  json rss = json::object();
  uint64_t node_peak = 0;
  for (auto& [role, pid] : pids) {
    const uint64_t hwm = proc_status_bytes(pid, "VmHWM:");
    rss[role] = std::max<uint64_t>(rss.value(role, uint64_t(0)), hwm);
    if (role == "serving") node_peak = std::max(node_peak, hwm);
  }
  out["node_rss_before_backup_bytes"] = rss_before;
  out["node_peak_rss_during_backup_bytes"] = node_peak;
  out["node_backup_memory_ratio"] = rss_before ? double(node_peak) / double(rss_before) : 0;
  cluster_down(a);

  cluster_up(b, o);
  json restore = must(run_self({"restore", file, "--name", b.name, "--json"}), "restore");
  out["restore_records_per_s"] = restore["records_per_s"];
  out["restore_seconds"] = restore["seconds"];
  for (auto& [role, pid] : process_pids(b))
    rss[role] = std::max<uint64_t>(rss.value(role, uint64_t(0)), proc_status_bytes(pid, "VmHWM:"));
  membership_figures(b, o, base, &out);
  cluster_down(b);

  // Stop-and-wait costs one round trip per record: measured on a prefix.
  cluster_up(c, o);
  const uint64_t strict = std::min<uint64_t>(o.records, 50000);
  json s = must(run_self({"restore", file, "--name", c.name, "--window", "1", "--limit", std::to_string(strict),
                          "--json"}),
                "restore --window 1");
  out["restore_strict_records_per_s"] = s["records_per_s"];
  out["restore_strict_records"] = strict;
  cluster_down(c);

  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  rss["client"] = uint64_t(ru.ru_maxrss) * 1024;
  out["peak_rss_bytes"] = rss;

  const double mc = memcpy_gb_per_s(input_bytes);
  out["memcpy_gb_per_s"] = mc;
  const double memcpy_input_s = double(input_bytes) / (mc * 1e9);
  out["memcpy_seconds_of_input"] = memcpy_input_s;
  json mult;
  for (const char* k : {"backup_seconds", "snapshot_seconds", "transfer_seconds", "consolidate_seconds"})
    mult[k] = out[k].get<double>() / memcpy_input_s;
  out["phase_multiple_of_memcpy"] = mult;
  out["consolidate_fraction_of_memcpy"] = out["consolidate_gb_per_s"].get<double>() / mc;
  return out;
}

void print_human(const json& r) {
  auto num = [&](const char* k) { return r.value(k, 0.0); };
  printf("cachevault bench: %llu records of %llu bytes, %d nodes, R=%d\n", r["records"].get<unsigned long long>(),
         r["value_size"].get<unsigned long long>(), r["nodes"].get<int>(), r["replicas"].get<int>());
  printf("  memcpy                      %8.2f GB/s (yardstick)\n", num("memcpy_gb_per_s"));
  printf("  load                        %10.0f records/s\n", num("load_records_per_s"));
  printf("  backup                      %8.3f s  (snapshot %.3f, transfer %.3f, consolidate %.3f)\n",
         num("backup_seconds"), num("snapshot_seconds"), num("transfer_seconds"), num("consolidate_seconds"));
  printf("  consolidation               %8.2f GB/s of input (%.0f%% of memcpy)\n", num("consolidate_gb_per_s"),
         100 * num("consolidate_fraction_of_memcpy"));
  printf("  restore                     %10.0f records/s (window 1: %.0f records/s)\n", num("restore_records_per_s"),
         num("restore_strict_records_per_s"));
  printf("  backup under writes         %8.3f s  (CPU time taken by the host meanwhile: %.0f ms)\n",
         num("backup_under_writes_seconds"), num("cpu_steal_ms_under_writes"));
  printf("  write latency max / p99     %8.2f / %.2f ms without backup, %.2f / %.2f ms during backup\n",
         num("write_latency_max_ms"), num("write_latency_p99_ms"), num("write_stall_max_ms"),
         num("write_stall_p99_ms"));
  printf("  node memory during backup   %8.2f x before\n", num("node_backup_memory_ratio"));
  printf("  re-replication              %10.0f records/s (%.3f s after a node's death)\n",
         num("rereplication_records_per_s"), num("rereplication_seconds"));
  printf("  node add                    %10.0f records/s (%.3f s); writes meanwhile max / p99 %.2f / %.2f ms\n",
         num("node_add_records_per_s"), num("node_add_seconds"), num("write_stall_during_move_max_ms"),
         num("write_stall_during_move_p99_ms"));
  printf("  file                        %10llu bytes\n", r["file_bytes"].get<unsigned long long>());
}

}  // namespace

int run_bench(const BenchOptions& o) {
  if (o.records == 0 || o.value_size > shm::kMaxValueBytes || o.nodes < 1 || o.replicas < 1 || o.replicas > o.nodes) {
    return client::report_error(client::kExitUsage,
                                "bench needs --records >= 1, --value-size <= 16 MiB and 1 <= --replicas <= --nodes");
  }
  std::string base = o.dir;
  bool remove_base = false;
  if (base.empty()) {
    char tmpl[] = "/tmp/cachevault-bench-XXXXXX";
    base = mkdtemp(tmpl);
    remove_base = true;
  }
  std::vector<Cluster*> live;
  int rc = 0;
  json result;
  try {
    if (o.plot.empty()) {
      result = run_once(o, base, live);
    } else {
      json runs = json::array();
      for (uint64_t n : {100000ull, 1000000ull, 4000000ull}) {
        BenchOptions each = o;
        each.records = n;
        if (isatty(2)) fprintf(stderr, "bench: %llu records...\n", static_cast<unsigned long long>(n));
        runs.push_back(run_once(each, base + "/n" + std::to_string(n), live));
        live.clear();
      }
      result = runs[1];
      result["runs"] = runs;
      if (Status s = write_bench_plot(o.plot, runs); !s) throw Failure{s.message()};
    }
  } catch (const Failure& f) {
    rc = client::report_error(client::kExitFailure, "bench: " + f.what);
  }
  for (Cluster* c : live) cluster_down(*c);
  if (remove_base) {
    std::error_code ec;
    std::filesystem::remove_all(base, ec);
  }
  if (rc != 0) return rc;
  if (o.json)
    client::print_json(std::move(result));
  else
    print_human(result);
  return 0;
}

}  // namespace cv::launcher
