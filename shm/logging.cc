// Process logger set-up.
#include "shm/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>

namespace cv {

Status init_process_logger(const std::string& process_name, const std::string& data_dir, bool errors_to_stderr) {
  std::error_code ec;
  const std::string dir = data_dir + "/logs";
  std::filesystem::create_directories(dir, ec);
  if (ec) return errno_status("mkdir", dir, ec.value());
  chmod(dir.c_str(), 0700);
  const std::string path = dir + "/" + process_name + ".log";
  try {
    std::vector<spdlog::sink_ptr> sinks;
    auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path);
    chmod(path.c_str(), 0600);
    sinks.push_back(file);
    if (errors_to_stderr) {
      auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
      err->set_level(spdlog::level::err);
      err->set_pattern("cachevault %n: %v");
      sinks.push_back(err);
    }
    auto logger = std::make_shared<spdlog::logger>(process_name, sinks.begin(), sinks.end());
    file->set_pattern("%Y-%m-%d %H:%M:%S.%e [%n pid %P] %l: %v");
    logger->set_level(spdlog::level::info);
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
  } catch (const spdlog::spdlog_ex& e) {
    return Status::io_error("open log " + path + ": " + e.what());
  }
  return Status::ok();
}

void init_stderr_logger(const std::string& process_name) {
  auto logger = std::make_shared<spdlog::logger>(process_name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("cachevault %n: %v");
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace cv
