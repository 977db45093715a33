// One spdlog logger per process, named by role and id ("node0", "target1",
// "launcher", "client"), writing to <data_dir>/logs/<name>.log (rotated by
// size: <name>.1.log, <name>.2.log, ...); warnings and errors also go to
// stderr when asked. Every line carries an ISO-8601 time with its zone; the
// first line of each process start names the version, pid, role and
// arguments. The level comes from CACHEVAULT_LOG_LEVEL, else SPDLOG_LEVEL,
// else info (files) / warn (stderr-only loggers).
#pragma once

#include <cstddef>
#include <string>

#include "shm/status.h"

namespace cv {

// A log file is rotated when it reaches this size; this many old files stay.
inline constexpr size_t kLogFileBytes = 16u << 20;
inline constexpr size_t kLogFilesKept = 3;

Status init_process_logger(const std::string& process_name, const std::string& data_dir, bool errors_to_stderr);
// A logger for commands that have no data dir (inspect, verify, client
// commands): stderr only, warnings and up unless the environment says.
void init_stderr_logger(const std::string& process_name);

// The level named by CACHEVAULT_LOG_LEVEL or SPDLOG_LEVEL ("trace", "debug",
// "info", "warn", "error", "critical", "off"), else `fallback`. *bad gets
// the text of a variable that names no level.
int log_level_from_env(int fallback, std::string* bad = nullptr);

}  // namespace cv
