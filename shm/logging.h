// One spdlog logger per process, named by role and id ("node0", "target1",
// "launcher", "client"), writing to <data_dir>/logs/<name>.log; warnings and
// errors also go to stderr when asked.
#pragma once

#include <string>

#include "shm/status.h"

namespace cv {

Status init_process_logger(const std::string& process_name, const std::string& data_dir, bool errors_to_stderr);
// A logger for commands that have no data dir (inspect, verify): stderr only,
// warnings and up.
void init_stderr_logger(const std::string& process_name);

}  // namespace cv
