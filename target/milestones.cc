// Durable milestone files.
#include "target/milestones.h"

#include <spdlog/spdlog.h>

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

void write_milestone(const Milestone& m, shm::FileEnv& env) {
  std::error_code ec;
  std::filesystem::create_directories(m.dir, ec);
  const std::string path = m.dir + "/" + std::to_string(m.schedule_id) + ".json";
  if (Status s = shm::write_file_atomic(env, path, m.text, shm::Replace::kAllowed); !s)
    spdlog::warn("could not record milestone '{}' of backup {}: {}", m.name, m.schedule_id, s.message());
}

std::jthread write_milestone_async(Milestone m) {
  return std::jthread([m = std::move(m)] { write_milestone(m); });
}

}  // namespace cv::target
