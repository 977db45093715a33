// The numbers every cachevault process must agree on (heartbeat periods,
// timeouts, limits, exit codes) are declared once, in shm/limits.h: no other
// source file defines a constant of the same name, which could drift from
// it (a launcher fencing after 5 s while a node stamps every 6 s).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace cv::test {
namespace {

namespace fs = std::filesystem;

std::string ReadSource(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::regex kDefinition(R"(constexpr\s+[A-Za-z_:<>0-9]+\s+(k[A-Za-z0-9_]+)\s*=)");

TEST(LimitsTest, SharedConstantsAreDefinedOnlyInLimitsHeader) {
  const fs::path src = CACHEVAULT_SOURCE_DIR;
  const std::string limits = ReadSource(src / "shm/limits.h");
  std::set<std::string> names;
  for (std::sregex_iterator it(limits.begin(), limits.end(), kDefinition), end; it != end; ++it)
    names.insert((*it)[1]);
  ASSERT_GE(names.size(), 10u) << "shm/limits.h should declare the shared constants";
  ASSERT_TRUE(names.count("kNodeHeartbeatTimeoutMs") && names.count("kExitUsage"));
  size_t files = 0;
  for (const char* dir : {"shm", "node", "target", "client", "launcher", "resp"}) {
    for (const auto& e : fs::recursive_directory_iterator(src / dir)) {
      const std::string ext = e.path().extension().string();
      if (ext != ".h" && ext != ".cc") continue;
      if (e.path() == src / "shm/limits.h") continue;
      ++files;
      const std::string text = ReadSource(e.path());
      for (std::sregex_iterator it(text.begin(), text.end(), kDefinition), end; it != end; ++it)
        EXPECT_EQ(names.count((*it)[1]), 0u)
            << fs::relative(e.path(), src).string() << " defines " << (*it)[1] << " again; use shm/limits.h";
    }
  }
  EXPECT_GT(files, 50u);
}

}  // namespace
}  // namespace cv::test
