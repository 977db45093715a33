// Durable milestone files.
#include "target/milestones.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "shm/schedule_ops.h"

namespace cv::target {

void write_milestone(const shm::BlockLayout& b, const shm::ScheduleSlot& s, const std::string& milestone) {
  const std::string dir = std::string(b.config.data_dir) + "/schedules";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  nlohmann::json j;
  j["id"] = s.id;
  j["milestone"] = milestone;
  j["target"] = s.target;
  j["round"] = s.round;
  j["file"] = s.file;
  j["records"] = s.records;
  j["bytes"] = s.bytes;
  j["nodes"] = nlohmann::json::array();
  for (uint32_t n = 0; n < s.nodes; ++n)
    j["nodes"].push_back({{"node", n}, {"state", shm::entry_state_name(shm::EntryState(s.entries[n].state.load()))},
                          {"records", s.entries[n].records}, {"bytes", s.entries[n].bytes}});
  const std::string text = j.dump() + "\n";
  const std::string path = dir + "/" + std::to_string(s.id) + ".json";
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  ok = ok && ::rename(tmp.c_str(), path.c_str()) == 0;
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  if (!ok) spdlog::warn("could not record milestone '{}' of backup {} in {}", milestone, s.id, path);
}

}  // namespace cv::target
