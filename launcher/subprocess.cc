// fork/exec of a program with stdout and stderr captured through files.
#include "launcher/subprocess.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace cv::launcher {

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int spawn_program(const std::string& exe, const std::vector<std::string>& args, const std::vector<std::string>& env,
                  const std::string& out, const std::string& err) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid != 0) return pid;
  int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int n = open("/dev/null", O_RDONLY);
  dup2(n, 0);
  dup2(o, 1);
  dup2(e, 2);
  for (const auto& kv : env) putenv(const_cast<char*>(kv.c_str()));
  std::vector<char*> argv{const_cast<char*>(exe.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(exe.c_str(), argv.data());
  _exit(127);
}

namespace {
std::string self_exe() { return std::filesystem::read_symlink("/proc/self/exe").string(); }
}  // namespace

int wait_child(int pid) {
  int st = 0;
  if (waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

ChildResult run_self(const std::vector<std::string>& args) {
  char tmpl[] = "/tmp/cachevault-run-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  ChildResult r;
  r.rc = wait_child(spawn_program(self_exe(), args, {}, dir + "/out", dir + "/err"));
  r.out = read_whole_file(dir + "/out");
  r.err = read_whole_file(dir + "/err");
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return r;
}

int start_self(const std::vector<std::string>& args, const std::string& stdout_path) {
  return spawn_program(self_exe(), args, {}, stdout_path, "/dev/null");
}

}  // namespace cv::launcher
