// Test support: process spawning with captured output, temp dirs, clusters.
#include "tests/support/cli_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace cv::test {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int exec_child(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& out,
               const std::string& err) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int n = open("/dev/null", O_RDONLY);
  dup2(n, 0);
  dup2(o, 1);
  dup2(e, 2);
  for (const auto& kv : env) putenv(const_cast<char*>(kv.c_str()));
  std::vector<char*> argv;
  std::string bin = CACHEVAULT_BIN;
  argv.push_back(bin.data());
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(bin.c_str(), argv.data());
  _exit(127);
}

std::string unique_suffix() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(rd() % 100000);
}

}  // namespace

int wait_cli(int pid, int timeout_s) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int st = 0;
  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > until) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return 124;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  return 128 + WTERMSIG(st);
}

CliResult run_cli(const std::vector<std::string>& args, const std::vector<std::string>& env, int timeout_s) {
  TempDir io;
  const std::string out = io / "out", err = io / "err";
  int pid = exec_child(args, env, out, err);
  CliResult r;
  r.rc = wait_cli(pid, timeout_s);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

int spawn_cli(const std::vector<std::string>& args, const std::vector<std::string>& env,
              const std::string& stdout_path) {
  return exec_child(args, env, stdout_path, "/dev/null");
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "cvtest-XXXXXX").string();
  path_ = mkdtemp(tmpl.data());
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

TestCluster::TestCluster(const std::string& tag) : name_(tag + unique_suffix()) {}

TestCluster::~TestCluster() {
  if (up_) down();
}

CliResult TestCluster::up(const std::vector<std::string>& flags, const std::vector<std::string>& env) {
  std::vector<std::string> args{"cluster", "up", "--name", name_, "--dir", tmp_ / "data", "--detach"};
  args.insert(args.end(), flags.begin(), flags.end());
  CliResult r = run_cli(args, env, 60);
  up_ = up_ || r.rc == 0;
  return r;
}

CliResult TestCluster::down() {
  up_ = false;
  return run_cli({"cluster", "down", "--name", name_}, {}, 60);
}

CliResult TestCluster::cli(std::vector<std::string> args, const std::vector<std::string>& env, int timeout_s) {
  args.push_back("--name");
  args.push_back(name_);
  return run_cli(args, env, timeout_s);
}

nlohmann::json TestCluster::status() {
  CliResult r = cli({"status", "--json"});
  if (r.rc != 0) return nlohmann::json::object();
  return nlohmann::json::parse(r.out, nullptr, false);
}

int TestCluster::node_pid(int id) {
  const nlohmann::json st = status();
  if (!st.contains("nodes")) return -1;
  for (const auto& n : st["nodes"])
    if (n["role"] == "serving" && n["id"] == id) return n["pid"].get<int>();
  return -1;
}

std::vector<nlohmann::json> parse_json_lines(const std::string& text) {
  std::vector<nlohmann::json> v;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] == '{') v.push_back(nlohmann::json::parse(line, nullptr, false));
  return v;
}

}  // namespace cv::test
