// Help footers of the command line: examples, exit codes and the environment
// variables a command reads, so `cachevault COMMAND --help` (and the man
// pages generated from it) answer what a user asks first.
#pragma once

#include <initializer_list>
#include <string>

namespace cv::launcher {

// Which environment variables a command reads.
enum EnvUse : unsigned {
  kEnvCluster = 1,     // CACHEVAULT_CLUSTER: the cluster name
  kEnvFailpoints = 2,  // CACHEVAULT_FAILPOINTS: fault injection
  kEnvLogLevel = 4,    // CACHEVAULT_LOG_LEVEL / SPDLOG_LEVEL
};

// "Examples:" (one line each), "Exit codes:" and "Environment:" sections.
std::string help_footer(std::initializer_list<const char*> examples, const std::string& exit_codes, unsigned env);

// Exit-code lines shared by many commands.
inline constexpr const char* kExitsCluster =
    "0 done, 1 runtime failure (cluster not running, node down, refused), 2 usage error";
inline constexpr const char* kExitsFile =
    "0 sound, 1 file missing, 2 usage error, 3 corrupt or unreadable file (the message gives the offset)";

}  // namespace cv::launcher
