// Durable milestone files.
#include "target/milestones.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "shm/schedule_ops.h"

namespace cv::target {

Milestone take_milestone(const shm::BlockLayout& b, const shm::ScheduleSlot& s, const std::string& name) {
  nlohmann::json j;
  j["id"] = s.id;
  j["milestone"] = name;
  j["target"] = s.target;
  j["round"] = s.round;
  j["file"] = s.file;
  j["records"] = s.records;
  j["bytes"] = s.bytes;
  j["nodes"] = nlohmann::json::array();
  for (uint32_t n = 0; n < s.nodes; ++n)
    j["nodes"].push_back({{"node", n}, {"state", shm::entry_state_name(shm::EntryState(s.entries[n].state.load()))},
                          {"records", s.entries[n].records}, {"bytes", s.entries[n].bytes}});
  return Milestone{std::string(b.config.data_dir) + "/schedules", s.id, name, j.dump() + "\n"};
}

void write_milestone(const Milestone& m) {
  std::error_code ec;
  std::filesystem::create_directories(m.dir, ec);
  const std::string path = m.dir + "/" + std::to_string(m.schedule_id) + ".json";
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && ::write(fd, m.text.data(), m.text.size()) == ssize_t(m.text.size()) && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  ok = ok && ::rename(tmp.c_str(), path.c_str()) == 0;
  int dfd = ::open(m.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  if (!ok) spdlog::warn("could not record milestone '{}' of backup {} in {}", m.name, m.schedule_id, path);
}

std::jthread write_milestone_async(Milestone m) {
  return std::jthread([m = std::move(m)] { write_milestone(m); });
}

}  // namespace cv::target
