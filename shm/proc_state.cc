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
char state_in(const std::string& stat_path) {
  FILE* f = fopen(stat_path.c_str(), "re");
  if (!f) return 0;
  char buf[512];
  const size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char* close_paren = strrchr(buf, ')');
  return close_paren && close_paren[1] == ' ' ? close_paren[2] : 0;
}
}  // namespace

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
