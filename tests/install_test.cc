// Installation as a user gets it: `cmake --install` puts the binary, a man
// page per command and bash completion under a prefix; the installed binary
// runs, and the completion completes commands and flags from --help.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "tests/support/cli_runner.h"

namespace cv::test {
namespace {

namespace fs = std::filesystem;

std::string shell(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(InstallTest, InstallsBinaryManPagesAndCompletion) {
  TempDir prefix;
  const std::string log = prefix / "install.log";
  ASSERT_EQ(std::system(("cmake --install " CACHEVAULT_BUILD_DIR " --prefix " + prefix.path() + " > " + log + " 2>&1")
                            .c_str()),
            0)
      << read_text(log);
  const std::string bin = prefix / "bin/cachevault";
  ASSERT_TRUE(fs::exists(bin));
  EXPECT_EQ(shell(bin + " --version").rfind("cachevault ", 0), 0u);
  for (const char* page : {"cachevault", "cachevault-cluster-up", "cachevault-cluster-down", "cachevault-status",
                           "cachevault-put", "cachevault-get", "cachevault-del", "cachevault-load", "cachevault-scan",
                           "cachevault-backup", "cachevault-restore", "cachevault-inspect", "cachevault-verify",
                           "cachevault-failpoints", "cachevault-bench"}) {
    const std::string man = prefix / ("share/man/man1/" + std::string(page) + ".1");
    ASSERT_TRUE(fs::exists(man)) << man;
    const std::string text = read_text(man);
    EXPECT_NE(text.find("Exit codes"), std::string::npos) << page << ": the page lacks the help footer";
    EXPECT_EQ(text.find(CACHEVAULT_BUILD_DIR), std::string::npos) << page << ": names the build directory";
  }
  const std::string completion = prefix / "share/bash-completion/completions/cachevault";
  ASSERT_TRUE(fs::exists(completion));
  const std::string words = shell("PATH=" + prefix.path() + "/bin:$PATH bash -c 'source " + completion +
                                  "; COMP_WORDS=(cachevault load --rec); COMP_CWORD=2; _cachevault; "
                                  "echo \"${COMPREPLY[*]}\"; COMP_WORDS=(cachevault cluster d); COMP_CWORD=2; "
                                  "_cachevault; echo \"${COMPREPLY[*]}\"'");
  EXPECT_EQ(words, "--records\ndown\n");
}

}  // namespace
}  // namespace cv::test
