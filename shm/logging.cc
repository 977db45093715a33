// Process logger set-up: level from the environment, size-based rotation,
// ISO-8601 times with zone, and a header line per process start so the runs
// that share a log file can be told apart.
#include "shm/logging.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "cachevault/version.h"

namespace cv {

namespace {

// %z is the zone offset (+00:00), so lines from hosts or runs in different
// zones sort and compare correctly.
constexpr const char* kFilePattern = "%Y-%m-%dT%H:%M:%S.%e%z [%n pid %P] %l: %v";

// This process's arguments, from /proc/self/cmdline, space-separated.
std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  for (char& c : raw)
    if (c == '\0') c = ' ';
  return raw;
}

}  // namespace

int log_level_from_env(int fallback, std::string* bad) {
  for (const char* var : {"CACHEVAULT_LOG_LEVEL", "SPDLOG_LEVEL"}) {
    const char* v = std::getenv(var);
    if (v == nullptr || *v == '\0') continue;
    const std::string text = v;
    const auto level = spdlog::level::from_str(text);
    // from_str answers "off" for any name it does not know.
    if (level == spdlog::level::off && text != "off") {
      if (bad) *bad = std::string(var) + "='" + text + "'";
      return fallback;
    }
    return int(level);
  }
  return fallback;
}

Status init_process_logger(const std::string& process_name, const std::string& data_dir, bool errors_to_stderr) {
  std::error_code ec;
  const std::string dir = data_dir + "/logs";
  std::filesystem::create_directories(dir, ec);
  if (ec) return errno_status("mkdir", dir, ec.value());
  chmod(dir.c_str(), 0700);
  const std::string path = dir + "/" + process_name + ".log";
  std::string bad_level;
  const auto level = spdlog::level::level_enum(log_level_from_env(spdlog::level::info, &bad_level));
  try {
    std::vector<spdlog::sink_ptr> sinks;
    auto file = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(path, kLogFileBytes, kLogFilesKept);
    chmod(path.c_str(), 0600);
    file->set_pattern(kFilePattern);
    sinks.push_back(file);
    if (errors_to_stderr) {
      auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
      err->set_level(spdlog::level::err);
      err->set_pattern("cachevault %n: %v");
      sinks.push_back(err);
    }
    auto logger = std::make_shared<spdlog::logger>(process_name, sinks.begin(), sinks.end());
    logger->set_level(level);
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
  } catch (const spdlog::spdlog_ex& e) {
    return Status::io_error("open log " + path + ": " + e.what());
  }
  // Written whatever the level: it says which run the lines below belong to.
  const std::string header = "start: cachevault " CACHEVAULT_VERSION " pid " + std::to_string(getpid()) + " role " +
                             process_name + " log level " +
                             std::string(spdlog::level::to_string_view(level).data()) + " args: " + command_line();
  spdlog::default_logger_raw()->sinks()[0]->log(spdlog::details::log_msg(process_name, spdlog::level::info, header));
  spdlog::default_logger_raw()->flush();
  if (!bad_level.empty()) spdlog::warn("{} names no log level; using info", bad_level);
  return Status::ok();
}

void init_stderr_logger(const std::string& process_name) {
  auto logger = std::make_shared<spdlog::logger>(process_name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("cachevault %n: %l: %v");
  std::string bad_level;
  logger->set_level(spdlog::level::level_enum(log_level_from_env(spdlog::level::warn, &bad_level)));
  spdlog::set_default_logger(logger);
  if (!bad_level.empty()) spdlog::warn("{} names no log level; using warn", bad_level);
}

}  // namespace cv
