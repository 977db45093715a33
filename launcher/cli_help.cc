// Help footers (see cli_help.h).
#include "launcher/cli_help.h"

namespace cv::launcher {

std::string help_footer(std::initializer_list<const char*> examples, const std::string& exit_codes, unsigned env) {
  std::string f;
  if (examples.size() > 0) {
    f += "Examples:\n";
    for (const char* e : examples) f += std::string("  ") + e + "\n";
    f += "\n";
  }
  f += "Exit codes: " + exit_codes + "\n";
  if (env != 0) {
    f += "\nEnvironment:\n";
    if (env & kEnvCluster) f += "  CACHEVAULT_CLUSTER     cluster name when --name is not given (else 'default')\n";
    if (env & kEnvFailpoints)
      f += "  CACHEVAULT_FAILPOINTS  name[@proc]=action[,...]: fault injection for tests ('cachevault failpoints')\n";
    if (env & kEnvLogLevel)
      f += "  CACHEVAULT_LOG_LEVEL   trace, debug, info, warn, error, critical or off (SPDLOG_LEVEL too)\n";
  }
  while (!f.empty() && f.back() == '\n') f.pop_back();
  return f;
}

}  // namespace cv::launcher
