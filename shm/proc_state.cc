// /proc/<pid>[/task/<tid>]/stat: the state letter follows the command name,
// which is in parentheses and may itself hold any character.
#include "shm/proc_state.h"

#include <dirent.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace cv::shm {

namespace {
// The fields after the command name ("S 1 2 ..."), or "" if unreadable.
std::string fields_after_name(const std::string& stat_path) {
  FILE* f = fopen(stat_path.c_str(), "re");
  if (!f) return {};
  char buf[1024];
  const size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char* close_paren = strrchr(buf, ')');
  if (!close_paren || close_paren[1] != ' ') return {};
  return std::string(close_paren + 2);
}

char state_in(const std::string& stat_path) {
  const std::string f = fields_after_name(stat_path);
  return f.empty() ? 0 : f[0];
}
}  // namespace

uint64_t process_start_ticks(int pid) {
  if (pid <= 0) return 0;
  // Field 3 is the state; field 22, the start time, is the 20th after it.
  const std::string f = fields_after_name("/proc/" + std::to_string(pid) + "/stat");
  size_t at = 0;
  for (int skip = 0; skip < 19 && at != std::string::npos; ++skip) {
    at = f.find(' ', at);
    if (at != std::string::npos) ++at;
  }
  if (at == std::string::npos || at >= f.size()) return 0;
  return strtoull(f.c_str() + at, nullptr, 10);
}

bool same_process(int pid, uint64_t start_ticks) {
  return pid > 0 && start_ticks != 0 && process_start_ticks(pid) == start_ticks;
}

char process_state(int pid) { return state_in("/proc/" + std::to_string(pid) + "/stat"); }

char thread_state(int pid, int tid) {
  return state_in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat");
}

bool any_thread_runnable(int pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  bool runnable = false;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    if (thread_state(pid, atoi(e->d_name)) == 'R') {
      runnable = true;
      break;
    }
  }
  closedir(d);
  return runnable;
}

}  // namespace cv::shm
