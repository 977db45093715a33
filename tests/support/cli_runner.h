// Test support: runs the cachevault binary as a user would, and starts real
// clusters with unique names that are always torn down.
#pragma once

#include <nlohmann/json.hpp>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace cv::test {

struct CliResult {
  int rc = -1;
  std::string out;
  std::string err;
};

// Runs `cachevault args...` with extra environment entries ("K=V"),
// capturing stdout and stderr; kills it after timeout_s.
CliResult run_cli(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                  int timeout_s = 120);
// Starts `cachevault args...` in the background; returns its pid.
int spawn_cli(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
              const std::string& stdout_path = "/dev/null");
// Waits for a spawned pid; returns its exit code (or 128+signal).
int wait_cli(int pid, int timeout_s = 120);

// A fresh temporary directory, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A real cluster under a unique name; `cluster down` runs in the destructor,
// so a failing test still tears it down.
class TestCluster {
 public:
  explicit TestCluster(const std::string& tag = "t");
  ~TestCluster();
  TestCluster(const TestCluster&) = delete;
  TestCluster& operator=(const TestCluster&) = delete;

  // `cluster up --detach` with these extra flags; returns its result.
  CliResult up(const std::vector<std::string>& flags = {}, const std::vector<std::string>& env = {});
  CliResult down();
  // Runs a command against this cluster (--name is added).
  CliResult cli(std::vector<std::string> args, const std::vector<std::string>& env = {}, int timeout_s = 120);
  nlohmann::json status();
  int node_pid(int id);
  const std::string& name() const { return name_; }
  std::string dir() const { return tmp_.path(); }
  const TempDir& tmp() const { return tmp_; }
  // args plus --name <this cluster>, for spawn_cli.
  std::vector<std::string> args(std::vector<std::string> a) const;
  // pid of a serving node ("serving") or target ("target"), -1 if unknown.
  int pid_of(const std::string& role, int id);
  // "up", "down", ... of a process, "" if unknown.
  std::string state_of(const std::string& role, int id);
  // Waits until the process has the state; true if it did in time.
  bool wait_state(const std::string& role, int id, const std::string& state, int timeout_ms = 5000);
  // Waits until every partition has R copies and none is moving.
  bool wait_healthy(int timeout_ms = 20000);
  // Sum of `records` over the serving nodes in status --json.
  uint64_t serving_records();
  // The cluster's data directory (--dir) and one process log under it.
  std::string data_dir() const { return tmp_ / "data"; }
  std::string log(const std::string& process) const;

 private:
  std::string name_;
  TempDir tmp_;
  bool up_ = false;
};

// Parses `scan --json` output: key -> the whole record object.
std::vector<nlohmann::json> parse_json_lines(const std::string& text);

// ---- Verbs for the backup and restore tests. ----

// Like spawn_cli, but stdout and stderr both go to files.
int spawn_cli_capture(const std::vector<std::string>& args, const std::vector<std::string>& env,
                      const std::string& stdout_path, const std::string& stderr_path);
// Whether a spawned pid has ended; if so, *rc gets its exit code (or 128+signal).
bool try_wait_cli(int pid, int* rc);

std::string read_text(const std::string& path);
// Complete lines (ending in '\n') of a file; a partly written last line is not counted.
size_t count_lines(const std::string& path);
// The first n complete lines of a file.
std::vector<std::string> first_lines(const std::string& path, size_t n);

// Polls pred every step_ms until it is true or timeout_ms passed; returns its last value.
bool wait_until(const std::function<bool()>& pred, int timeout_ms, int step_ms = 50);

// Records keyed by their JSON key (a string, or the dump of {"base64": ...}),
// each reduced to {key, value, version, timestamp}.
using RecordMap = std::map<std::string, nlohmann::json>;
RecordMap records_by_key(const std::vector<nlohmann::json>& lines);
RecordMap records_by_key(const std::string& json_lines);
// "" if a and b hold the same keys with the same value, version and
// timestamp; otherwise a description of the first differences.
std::string diff_records(const RecordMap& a, const RecordMap& b, const std::string& a_name = "a",
                         const std::string& b_name = "b", size_t max_report = 10);
// Strings of the cachevault-produced keys (k000...): "key-" + 10-digit index.
std::string synthetic_key(const std::string& prefix, uint64_t index);

// Serving-node and target lookups on a status object.
int pid_in_status(const nlohmann::json& status, const std::string& role, int id);
std::string state_in_status(const nlohmann::json& status, const std::string& role, int id);
uint64_t serving_records_in_status(const nlohmann::json& status);

}  // namespace cv::test
