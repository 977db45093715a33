// Test support: process spawning with captured output, temp dirs, clusters.
#include "tests/support/cli_runner.h"

#include "launcher/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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

std::string slurp(const std::string& path) { return launcher::read_whole_file(path); }

int exec_child(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& out,
               const std::string& err) {
  // CACHEVAULT_TEST_BIN runs the tests against another build (an older one,
  // to see a test fail before a fix).
  const char* other = std::getenv("CACHEVAULT_TEST_BIN");
  return launcher::spawn_program(other != nullptr && *other ? other : CACHEVAULT_BIN, args, env, out, err);
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


int spawn_cli_capture(const std::vector<std::string>& args, const std::vector<std::string>& env,
                      const std::string& stdout_path, const std::string& stderr_path) {
  return exec_child(args, env, stdout_path, stderr_path);
}

bool try_wait_cli(int pid, int* rc) {
  int st = 0;
  if (waitpid(pid, &st, WNOHANG) != pid) return false;
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return true;
}

std::string read_text(const std::string& path) { return slurp(path); }

size_t count_lines(const std::string& path) {
  const std::string text = slurp(path);
  return size_t(std::count(text.begin(), text.end(), '\n'));
}

std::vector<std::string> first_lines(const std::string& path, size_t n) {
  std::vector<std::string> out;
  const std::string text = slurp(path);
  size_t pos = 0;
  while (out.size() < n) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;
    out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

bool wait_until(const std::function<bool()>& pred, int timeout_ms, int step_ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > until) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
  }
}

RecordMap records_by_key(const std::vector<nlohmann::json>& lines) {
  RecordMap m;
  for (const auto& l : lines) {
    if (!l.is_object() || !l.contains("key")) continue;
    const std::string k = l["key"].is_string() ? l["key"].get<std::string>() : l["key"].dump();
    nlohmann::json r = {{"key", l["key"]},
                        {"value", l.value("value", nlohmann::json())},
                        {"version", l.value("version", nlohmann::json())},
                        {"timestamp", l.value("timestamp", nlohmann::json())}};
    if (l.contains("tombstone")) r["tombstone"] = l["tombstone"];
    if (m.count(k)) r["duplicate"] = true;
    m[k] = r;
  }
  return m;
}

RecordMap records_by_key(const std::string& json_lines) { return records_by_key(parse_json_lines(json_lines)); }

std::string diff_records(const RecordMap& a, const RecordMap& b, const std::string& an, const std::string& bn,
                         size_t max_report) {
  std::ostringstream out;
  size_t n = 0, only_a = 0, only_b = 0, differ = 0;
  for (const auto& [k, ra] : a) {
    auto it = b.find(k);
    if (it == b.end()) {
      ++only_a;
      if (n++ < max_report) out << "  only in " << an << ": " << ra.dump() << "\n";
      continue;
    }
    if (ra != it->second) {
      ++differ;
      if (n++ < max_report) out << "  " << an << ": " << ra.dump() << "\n  " << bn << ": " << it->second.dump() << "\n";
    }
  }
  for (const auto& [k, rb] : b)
    if (!a.count(k)) {
      ++only_b;
      if (n++ < max_report) out << "  only in " << bn << ": " << rb.dump() << "\n";
    }
  if (n == 0) return "";
  std::ostringstream head;
  head << an << " (" << a.size() << " records) and " << bn << " (" << b.size() << " records) differ: " << only_a
       << " only in " << an << ", " << only_b << " only in " << bn << ", " << differ << " with other contents\n";
  return head.str() + out.str();
}

std::string synthetic_key(const std::string& prefix, uint64_t index) {
  char buf[32];
  snprintf(buf, sizeof buf, "%010llu", static_cast<unsigned long long>(index));
  return prefix + buf;
}

int pid_in_status(const nlohmann::json& st, const std::string& role, int id) {
  if (!st.is_object() || !st.contains("nodes")) return -1;
  for (const auto& n : st["nodes"])
    if (n["role"] == role && n["id"] == id) return n["pid"].get<int>();
  return -1;
}

std::string state_in_status(const nlohmann::json& st, const std::string& role, int id) {
  if (!st.is_object() || !st.contains("nodes")) return "";
  for (const auto& n : st["nodes"])
    if (n["role"] == role && n["id"] == id) return n["state"].get<std::string>();
  return "";
}

uint64_t serving_records_in_status(const nlohmann::json& st) {
  uint64_t sum = 0;
  if (!st.is_object() || !st.contains("nodes")) return 0;
  for (const auto& n : st["nodes"])
    if (n["role"] == "serving") sum += n["records"].get<uint64_t>();
  return sum;
}

std::vector<std::string> TestCluster::args(std::vector<std::string> a) const {
  a.push_back("--name");
  a.push_back(name_);
  return a;
}

int TestCluster::pid_of(const std::string& role, int id) { return pid_in_status(status(), role, id); }

std::string TestCluster::state_of(const std::string& role, int id) { return state_in_status(status(), role, id); }

bool TestCluster::wait_state(const std::string& role, int id, const std::string& state, int timeout_ms) {
  return wait_until([&] { return state_of(role, id) == state; }, timeout_ms);
}

bool TestCluster::wait_healthy(int timeout_ms) {
  return wait_until(
      [&] {
        nlohmann::json s = status();
        const auto h = s.value("partition_health", nlohmann::json::object());
        return h.value("healthy", -1) == s.value("partitions", -2) && h.value("moving", -1) == 0;
      },
      timeout_ms);
}

uint64_t TestCluster::serving_records() { return serving_records_in_status(status()); }

std::string TestCluster::log(const std::string& process) const { return slurp(data_dir() + "/logs/" + process + ".log"); }

}  // namespace cv::test
