// fork/exec of this binary with stdout and stderr captured through files.
#include "launcher/subprocess.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace cv::launcher {

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int spawn(const std::vector<std::string>& args, const std::string& out, const std::string& err) {
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
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
  std::vector<char*> argv{const_cast<char*>(exe.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(exe.c_str(), argv.data());
  _exit(127);
}
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
  r.rc = wait_child(spawn(args, dir + "/out", dir + "/err"));
  r.out = slurp(dir + "/out");
  r.err = slurp(dir + "/err");
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return r;
}

int start_self(const std::vector<std::string>& args, const std::string& stdout_path) {
  return spawn(args, stdout_path, "/dev/null");
}

}  // namespace cv::launcher
