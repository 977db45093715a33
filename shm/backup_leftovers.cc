// Finding and removing what interrupted backups leave behind.
#include "shm/backup_leftovers.h"

#include <charconv>
#include <filesystem>
#include <string_view>

#include "shm/block.h"
#include "shm/file_env.h"

namespace cv::shm {

namespace fs = std::filesystem;

namespace {
// Parses all of text as a decimal number.
bool parse_u64(std::string_view text, uint64_t* v) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *v);
  return ec == std::errc() && end == text.data() + text.size();
}
}  // namespace

uint64_t first_unused_schedule_id(const std::string& data_dir) {
  uint64_t highest = 0;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(data_dir + "/schedules", ec)) {
    const std::string name = f.path().filename().string();
    constexpr std::string_view kSuffix = ".json";
    if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix)) continue;
    uint64_t id = 0;
    if (parse_u64(std::string_view(name).substr(0, name.size() - kSuffix.size()), &id) && id > highest) highest = id;
  }
  return highest + 1;
}

size_t remove_dead_backup_temps(const std::string& dir) {
  size_t removed = 0;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    const std::string name = f.path().filename().string();
    const size_t at = name.rfind(".cvb.tmp.");
    uint64_t pid = 0;
    if (at == std::string::npos || !parse_u64(std::string_view(name).substr(at + 9), &pid)) continue;
    if (pid > 0 && pid < (1u << 22) && pid_alive(int(pid))) continue;  // still being written
    if (f.is_symlink(ec) || !f.is_regular_file(ec)) continue;
    if (FileEnv::real().unlink(f.path().string())) ++removed;
  }
  return removed;
}

size_t remove_node_copies(const std::string& data_dir, int node, uint64_t keep_id) {
  size_t removed = 0;
  std::error_code ec;
  const std::string dir = data_dir + "/node" + std::to_string(node);
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    const std::string name = f.path().filename().string();
    // backup-<id>.copy, or its temp backup-<id>.copy.tmp.<pid>
    if (!name.starts_with("backup-")) continue;
    const size_t dot = name.find(".copy");
    uint64_t id = 0;
    if (dot == std::string::npos || !parse_u64(std::string_view(name).substr(7, dot - 7), &id)) continue;
    if (keep_id != 0 && id == keep_id) continue;
    if (FileEnv::real().unlink(f.path().string())) ++removed;
  }
  return removed;
}

size_t remove_cluster_leftovers(const std::string& data_dir, uint32_t serving_nodes) {
  size_t removed = remove_dead_backup_temps(data_dir + "/backups");
  for (uint32_t n = 0; n < serving_nodes; ++n) removed += remove_node_copies(data_dir, int(n), 0);
  return removed;
}

}  // namespace cv::shm
