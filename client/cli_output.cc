// Result and error output shared by every command (see cli_output.h). The
// --json switch is process-wide because a command's error can surface deep
// inside it (a failed connection, a file that will not open), and each such
// place reports through report_error rather than carrying the flag along.
#include "client/cli_output.h"

#include <cstdio>

namespace cv::client {

namespace {
bool g_json = false;
bool g_json_error_printed = false;

template <class J>
void print_object(J& j) {
  const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  fwrite(line.data(), 1, line.size(), stdout);
  fflush(stdout);
}
}  // namespace

void set_json_output(bool on) { g_json = on; }
bool json_output() { return g_json; }
bool json_error_printed() { return g_json_error_printed; }

void print_json_error(int exit, const std::string& message) {
  if (g_json_error_printed) return;
  nlohmann::ordered_json j;
  j["schema"] = kJsonSchema;
  j["error"] = message;
  j["exit"] = exit;
  print_object(j);
  g_json_error_printed = true;
}

int report_error(int exit, const std::string& message) {
  fflush(stdout);
  fprintf(stderr, "cachevault: %s\n", message.c_str());
  if (g_json) print_json_error(exit, message);
  return exit;
}

void print_json(nlohmann::json j) {
  j["schema"] = kJsonSchema;
  print_object(j);
}

void print_json(nlohmann::ordered_json j) {
  nlohmann::ordered_json out;
  out["schema"] = kJsonSchema;
  for (auto it = j.begin(); it != j.end(); ++it) out[it.key()] = std::move(*it);
  print_object(out);
}

}  // namespace cv::client
