// Running this binary as a child process and capturing its output: what the
// benchmark uses to drive real clusters exactly as a user's script would.
#pragma once

#include <string>
#include <vector>

namespace cv::launcher {

struct ChildResult {
  int rc = -1;
  std::string out;
  std::string err;
};

// Runs `cachevault args...` (this executable) and waits for it.
ChildResult run_self(const std::vector<std::string>& args);
// Starts `cachevault args...` with stdout to a file; returns its pid.
int start_self(const std::vector<std::string>& args, const std::string& stdout_path);
// Waits for a started child; returns its exit code.
int wait_child(int pid);

}  // namespace cv::launcher
