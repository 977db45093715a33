// Test support: runs the cachevault binary as a user would, and starts real
// clusters with unique names that are always torn down.
#pragma once

#include <nlohmann/json.hpp>
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

 private:
  std::string name_;
  TempDir tmp_;
  bool up_ = false;
};

// Parses `scan --json` output: key -> the whole record object.
std::vector<nlohmann::json> parse_json_lines(const std::string& text);

}  // namespace cv::test
