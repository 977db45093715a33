// Running a program (usually this binary) as a child process and capturing
// its output: how the benchmark and the tests drive real clusters exactly as
// a user's script would.
#pragma once

#include <string>
#include <vector>

namespace cv::launcher {

struct ChildResult {
  int rc = -1;
  std::string out;
  std::string err;
};

// Forks and execs `exe args...` with extra environment entries ("K=V"),
// stdin from /dev/null, stdout and stderr to the given files. Returns the pid.
int spawn_program(const std::string& exe, const std::vector<std::string>& args, const std::vector<std::string>& env,
                  const std::string& stdout_path, const std::string& stderr_path);
// A whole file's bytes ("" if it cannot be read).
std::string read_whole_file(const std::string& path);

// Runs `cachevault args...` (this executable) and waits for it.
ChildResult run_self(const std::vector<std::string>& args);
// Starts `cachevault args...` with stdout to a file; returns its pid.
int start_self(const std::vector<std::string>& args, const std::string& stdout_path);
// Waits for a started child; returns its exit code.
int wait_child(int pid);

}  // namespace cv::launcher
