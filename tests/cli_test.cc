// The command line as people and scripts meet it: --version, unknown
// commands, help that teaches (examples, exit codes, environment, ranges),
// bad numbers refused naming the flag, JSON on failure for every --json
// command, a schema field in every JSON object, byte-exact get, logs and
// progress, and the README command table matching --help.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "cachevault/version.h"
#include "client/progress.h"
#include "launcher/cluster_options.h"
#include "shm/limits.h"
#include "tests/support/cli_runner.h"
#include "tests/support/cluster_verbs.h"

namespace cv::test {
namespace {

// Every command path of the binary, as `cachevault <path> --help` takes it.
const std::vector<std::vector<std::string>> kCommands = {
    {"cluster", "up"}, {"cluster", "down"}, {"status"},  {"put"},    {"get"},        {"del"},  {"load"},
    {"scan"},          {"backup"},          {"restore"}, {"inspect"}, {"verify"}, {"failpoints"}, {"bench"}};

std::string joined(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : " ") + w;
  return s;
}

CliResult help_of(std::vector<std::string> cmd) {
  cmd.push_back("--help");
  return run_cli(cmd, {}, 30);
}

// The JSON object on the last non-empty line of stdout, or null.
nlohmann::json last_json(const std::string& out) {
  std::istringstream in(out);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  try {
    return nlohmann::json::parse(last);
  } catch (const std::exception&) {
    return nullptr;
  }
}

void ExpectJsonError(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  CliResult r = run_cli(args, env);
  const std::string what = joined(args);
  EXPECT_NE(r.rc, 0) << what;
  EXPECT_FALSE(r.err.empty()) << what << ": no message on stderr";
  const nlohmann::json j = last_json(r.out);
  ASSERT_TRUE(j.is_object()) << what << ": stdout is not a JSON object: " << r.out;
  EXPECT_TRUE(j.contains("error") && j["error"].is_string() && !j["error"].get<std::string>().empty()) << what;
  EXPECT_EQ(j.value("exit", -1), r.rc) << what << ": " << r.out;
  EXPECT_EQ(j.value("schema", 0), 1) << what;
}

void ExpectUsageErrorNaming(const std::vector<std::string>& args, const std::string& flag) {
  CliResult r = run_cli(args, {}, 30);
  EXPECT_EQ(r.rc, 2) << joined(args) << ": " << r.err;
  EXPECT_NE(r.err.find(flag), std::string::npos) << joined(args) << ": stderr does not name " << flag << ": " << r.err;
}

TEST(CliTest, VersionPrintsNameAndVersion) {
  CliResult r = run_cli({"--version"}, {}, 30);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, std::string("cachevault ") + CACHEVAULT_VERSION + "\n");
  EXPECT_TRUE(std::regex_match(r.out, std::regex("cachevault [0-9]+\\.[0-9]+\\.[0-9]+\n"))) << r.out;
}

TEST(CliTest, UnknownCommandIsAUsageErrorNamingIt) {
  for (const auto& cmd : std::vector<std::vector<std::string>>{{"frobnicate"}, {"cluster", "sideways"}}) {
    CliResult r = run_cli(cmd, {}, 30);
    EXPECT_EQ(r.rc, 2) << joined(cmd);
    EXPECT_NE(r.err.find("unknown command"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(cmd.back()), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("A subcommand is required"), std::string::npos) << r.err;
  }
}

TEST(CliTest, EveryHelpHasExamplesExitCodesAndEnvironment) {
  for (const auto& cmd : kCommands) {
    CliResult r = help_of(cmd);
    const std::string what = joined(cmd);
    EXPECT_EQ(r.rc, 0) << what;
    EXPECT_NE(r.out.find("Examples:\n  cachevault "), std::string::npos) << what << ":\n" << r.out;
    EXPECT_NE(r.out.find("Exit codes: 0"), std::string::npos) << what << ":\n" << r.out;
    const bool talks_to_cluster = cmd[0] != "inspect" && cmd[0] != "verify" && cmd[0] != "failpoints" &&
                                  cmd[0] != "bench";
    if (talks_to_cluster) {
      EXPECT_NE(r.out.find("CACHEVAULT_CLUSTER"), std::string::npos) << what;
    }
    if (cmd[0] != "failpoints" && joined(cmd) != "cluster down") {
      EXPECT_NE(r.out.find("CACHEVAULT_LOG_LEVEL"), std::string::npos) << what;
    }
  }
  CliResult top = run_cli({"--help"}, {}, 30);
  EXPECT_EQ(top.rc, 0);
  for (const char* env : {"CACHEVAULT_CLUSTER", "CACHEVAULT_FAILPOINTS", "CACHEVAULT_LOG_LEVEL"})
    EXPECT_NE(top.out.find(env), std::string::npos) << env;
}

TEST(CliTest, HelpShowsRanges) {
  CliResult r = help_of({"cluster", "up"});
  EXPECT_NE(r.out.find("[1 - 32]"), std::string::npos) << r.out;      // --nodes
  EXPECT_NE(r.out.find("[1 - 4096]"), std::string::npos) << r.out;    // --partitions
  EXPECT_NE(r.out.find("[1 - 8]"), std::string::npos) << r.out;       // --replicas
  r = help_of({"restore"});
  EXPECT_NE(r.out.find("[1 - 1024]"), std::string::npos) << r.out;    // --window
}

TEST(CliTest, BadNumbersAreUsageErrorsNamingTheFlag) {
  ExpectUsageErrorNaming({"load", "--records", "-5", "--name", "nx"}, "--records");
  ExpectUsageErrorNaming({"load", "--records", "0", "--name", "nx"}, "--records");
  ExpectUsageErrorNaming({"load", "--records", "18446744073709551611", "--name", "nx"}, "--records");
  ExpectUsageErrorNaming({"load", "--records", "5", "--duration", "-1", "--name", "nx"}, "--duration");
  ExpectUsageErrorNaming({"load", "--records", "5", "--value-size", "-1", "--name", "nx"}, "--value-size");
  ExpectUsageErrorNaming({"load", "--records", "5", "--value-size", "17M", "--name", "nx"}, "--value-size");
  ExpectUsageErrorNaming({"load", "--records", "5", "--window", "0", "--name", "nx"}, "--window");
  ExpectUsageErrorNaming({"restore", "f.cvb", "--entry-node", "-1", "--name", "nx"}, "--entry-node");
  ExpectUsageErrorNaming({"restore", "f.cvb", "--entry-node", "32", "--name", "nx"}, "--entry-node");
  ExpectUsageErrorNaming({"restore", "f.cvb", "--limit", "-3", "--name", "nx"}, "--limit");
  ExpectUsageErrorNaming({"backup", "--timeout", "-1", "--name", "nx"}, "--timeout");
  ExpectUsageErrorNaming({"backup", "--wait", "-2", "--name", "nx"}, "--wait");
  ExpectUsageErrorNaming({"cluster", "up", "--name", "nx", "--nodes", "33"}, "--nodes");
  ExpectUsageErrorNaming({"cluster", "up", "--name", "nx", "--partitions", "-1"}, "--partitions");
  ExpectUsageErrorNaming({"cluster", "up", "--name", "nx", "--targets", "-1"}, "--targets");
  ExpectUsageErrorNaming({"bench", "--records", "-1"}, "--records");
  ExpectUsageErrorNaming({"status", "--watch", "--count", "0", "--name", "nx"}, "--count");
}

TEST(CliTest, SizesTakeUnits) {
  // 2K is a valid --value-size; the cluster is not running, so the command
  // fails at run time (1), not at parsing (2).
  CliResult r = run_cli({"load", "--records", "5", "--value-size", "2K", "--name", "not-running-xyz"}, {}, 30);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("not running"), std::string::npos) << r.err;
}

TEST(CliTest, ClusterSizesUseTheSameUnits) {
  uint64_t n = 0;
  for (const auto& [text, want] : std::vector<std::pair<std::string, uint64_t>>{
           {"1048576", 1048576}, {"64K", 64ull << 10}, {"512M", 512ull << 20}, {"2G", 2ull << 30},
           {"1GiB", 1ull << 30}, {"10MB", 10ull << 20}, {"3t", 3ull << 40}}) {
    ASSERT_TRUE(launcher::parse_bytes("--node-memory", text, &n).is_ok()) << text;
    EXPECT_EQ(n, want) << text;
  }
  for (const char* bad : {"", "lots", "-5", "12Q", "1.5G"}) {
    Status s = launcher::parse_bytes("--node-memory", bad, &n);
    EXPECT_FALSE(s.is_ok()) << bad;
    EXPECT_NE(s.message().find("--node-memory"), std::string::npos) << s.message();
  }
  EXPECT_NE(launcher::parse_bytes("--node-memory", "99999999999T", &n).message().find("too large"), std::string::npos);
}

TEST(CliTest, EveryJsonCommandReportsFailureAsJson) {
  TempDir tmp;
  const std::string corrupt = tmp / "corrupt.cvb";
  std::ofstream(corrupt) << "not a backup file at all";
  const std::string nx = "not-running-xyz";
  ExpectJsonError({"status", "--json", "--name", nx});
  ExpectJsonError({"put", "k", "v", "--json", "--name", nx});
  ExpectJsonError({"get", "k", "--json", "--name", nx});
  ExpectJsonError({"del", "k", "--json", "--name", nx});
  ExpectJsonError({"load", "--records", "5", "--json", "--name", nx});
  ExpectJsonError({"scan", "--json", "--name", nx});
  ExpectJsonError({"backup", "--json", "--name", nx});
  ExpectJsonError({"restore", tmp / "missing.cvb", "--json", "--name", nx});
  ExpectJsonError({"restore", corrupt, "--json", "--name", nx});
  ExpectJsonError({"inspect", tmp / "missing.cvb", "--json"});
  ExpectJsonError({"inspect", corrupt, "--json"});
  ExpectJsonError({"verify", corrupt, "--json"});
  ExpectJsonError({"cluster", "down", "--json", "--name", nx});
  ExpectJsonError({"cluster", "up", "--json", "--detach", "--name", "a/b"});
  // Usage errors of a --json command, too.
  ExpectJsonError({"load", "--records", "-5", "--json", "--name", nx});
  ExpectJsonError({"status", "--json", "--no-such-flag"});
}

TEST(CliTest, ErrorsNameTheFileOnce) {
  TempDir tmp;
  const std::string corrupt = tmp / "f.cvb";
  std::ofstream(corrupt) << "not a backup file at all";
  for (const auto& cmd : std::vector<std::vector<std::string>>{
           {"restore", corrupt, "--name", "not-running-xyz"}, {"verify", corrupt}, {"inspect", corrupt}}) {
    CliResult r = run_cli(cmd, {}, 30);
    EXPECT_EQ(r.rc, 3) << r.err;
    const size_t first = r.err.find(corrupt);
    ASSERT_NE(first, std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(corrupt, first + 1), std::string::npos) << "file named twice: " << r.err;
  }
}

TEST(CliTest, ValueFileThatIsADirectoryOrTooLargeIsRefused) {
  TempDir tmp;
  CliResult r = run_cli({"put", "k", "--value-file", tmp.path(), "--name", "not-running-xyz"}, {}, 30);
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("is a directory"), std::string::npos) << r.err;
  const std::string big = tmp / "big";
  const size_t size = shm::kMaxValueBytes + 100000;
  std::ofstream(big, std::ios::binary) << std::string(size, 'v');
  r = run_cli({"put", "k", "--value-file", big, "--name", "not-running-xyz"}, {}, 30);
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find(std::to_string(size) + " bytes"), std::string::npos) << "the real size: " << r.err;
}

TEST(CliTest, ProgressLineFitsTheTerminal) {
  for (int columns : {20, 50, 80, 200}) {
    const std::string line = client::progress_line("restore", 123456, 1000000, 98765.4, "", columns);
    EXPECT_LT(line.size(), size_t(columns)) << columns << ": " << line;
    EXPECT_EQ(line.find('\n'), std::string::npos);
  }
  EXPECT_NE(client::progress_line("load", 500, 1000, 10, "", 120).find("[####"), std::string::npos);
  EXPECT_EQ(client::progress_line("load", 500, 1000, 10, "", 30).find('['), std::string::npos)
      << "no bar when it does not fit";
  EXPECT_NE(client::progress_line("load", 500, 0, 10, "", 80).find("500"), std::string::npos);
}

// One real cluster for what needs one: byte-exact get, JSON with a schema
// field on success, silent progress off a terminal, status --watch, logs.
TEST(CliTest, WithACluster) {
  TestCluster c("cli");
  CliResult up = c.up({"--nodes", "2", "--replicas", "2", "--targets", "1", "--json"},
                      {"CACHEVAULT_LOG_LEVEL=debug"});
  ASSERT_EQ(up.rc, 0) << up.err;
  nlohmann::json st = last_json(up.out);
  EXPECT_EQ(st.value("schema", 0), 1) << up.out;
  EXPECT_EQ(st.value("name", ""), c.name()) << up.out;

  // A value with every byte, a NUL and a trailing newline comes back exact.
  std::string value;
  for (int i = 0; i < 256; ++i) value.push_back(char(i));
  value += "\n";
  const std::string vfile = c.tmp() / "v.bin";
  std::ofstream(vfile, std::ios::binary) << value;
  CliResult put = c.cli({"put", "bin", "--value-file", vfile, "--json"});
  ASSERT_EQ(put.rc, 0) << put.err;
  nlohmann::json pj = last_json(put.out);
  EXPECT_EQ(pj.value("schema", 0), 1);
  EXPECT_EQ(pj.value("bytes", 0u), value.size());
  EXPECT_GT(pj.value("version", 0u), 0u);
  CliResult get = c.cli({"get", "bin"});
  ASSERT_EQ(get.rc, 0) << get.err;
  EXPECT_EQ(get.out, value) << "get is not byte-exact (" << get.out.size() << " bytes for " << value.size() << ")";
  CliResult gj = c.cli({"get", "bin", "--json"});
  ASSERT_EQ(gj.rc, 0);
  EXPECT_TRUE(last_json(gj.out)["value"].contains("base64")) << gj.out;
  CliResult text = c.cli({"put", "t", "plain"});
  ASSERT_EQ(text.rc, 0);
  EXPECT_EQ(c.cli({"get", "t"}).out, "plain");
  CliResult del = c.cli({"del", "t", "--json"});
  EXPECT_EQ(del.rc, 0);
  EXPECT_EQ(last_json(del.out).value("key", ""), "t");

  CliResult load = c.cli({"load", "--records", "3000", "--value-size", "1K", "--json"});
  ASSERT_EQ(load.rc, 0) << load.err;
  EXPECT_EQ(last_json(load.out).value("schema", 0), 1) << load.out;
  EXPECT_EQ(last_json(load.out).value("records", 0u), 3000u) << load.out;
  EXPECT_EQ(load.err.find('\r'), std::string::npos) << "progress drawn off a terminal: " << load.err;

  CliResult backup = c.cli({"backup", "--json"});
  ASSERT_EQ(backup.rc, 0) << backup.err;
  nlohmann::json bj = last_json(backup.out);
  EXPECT_EQ(bj.value("schema", 0), 1);
  EXPECT_EQ(backup.err.find('\r'), std::string::npos) << backup.err;
  const std::string file = bj.value("file", "");
  for (const auto& cmd : std::vector<std::vector<std::string>>{{"inspect", file, "--json"}, {"verify", file, "--json"}}) {
    CliResult r = run_cli(cmd);
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(last_json(r.out).value("schema", 0), 1) << joined(cmd) << ": " << r.out;
  }
  CliResult restore = c.cli({"restore", file, "--json"});
  ASSERT_EQ(restore.rc, 0) << restore.err;
  EXPECT_EQ(last_json(restore.out).value("schema", 0), 1);
  EXPECT_EQ(restore.err.find('\r'), std::string::npos) << restore.err;
  CliResult status = c.cli({"status", "--json"});
  EXPECT_EQ(last_json(status.out).value("schema", 0), 1);
  CliResult fps = run_cli({"failpoints", "--json"});
  EXPECT_EQ(last_json(fps.out).value("schema", 0), 1);
  EXPECT_FALSE(last_json(fps.out)["failpoints"].empty());

  CliResult watch = c.cli({"status", "--watch", "--count", "2"});
  EXPECT_EQ(watch.rc, 0) << watch.err;
  size_t views = 0;
  for (size_t at = watch.out.find("cluster " + c.name()); at != std::string::npos;
       at = watch.out.find("cluster " + c.name(), at + 1))
    ++views;
  EXPECT_EQ(views, 2u) << watch.out;

  // Logs: one header line per start, ISO-8601 times with a zone, the level
  // from the environment.
  const std::string log = c.log("launcher");
  const std::regex header("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}[+-][0-9]{2}:[0-9]{2} "
                          "\\[launcher pid [0-9]+\\] info: start: cachevault " CACHEVAULT_VERSION
                          " pid [0-9]+ role launcher log level debug args: .*cluster up.*");
  std::istringstream lines(log);
  std::string first;
  std::getline(lines, first);
  EXPECT_TRUE(std::regex_match(first, header)) << first;

  CliResult down = c.cli({"cluster", "down", "--json"});
  EXPECT_EQ(down.rc, 0) << down.err;
  nlohmann::json dj = last_json(down.out);
  EXPECT_EQ(dj.value("schema", 0), 1) << down.out;
  EXPECT_TRUE(dj.value("stopped", false));
}

// ---- The README command table against --help. ----

// Flags of a help text's option list (without --help).
std::set<std::string> help_flags(const std::string& help) {
  std::set<std::string> flags;
  std::istringstream in(help);
  std::string line;
  const std::regex opt("^  (?:-[a-zA-Z],)?(--[a-z][a-z0-9-]*)");
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, opt) && m[1] != "--help" && m[1] != "--help-all" && m[1] != "--version")
      flags.insert(m[1]);
  return flags;
}

// Subcommand names listed in a help text.
std::vector<std::string> help_subcommands(const std::string& help) {
  std::vector<std::string> names;
  const size_t at = help.find("Subcommands:\n");
  if (at == std::string::npos) return names;
  std::istringstream in(help.substr(at + 13));
  std::string line;
  const std::regex sub("^  ([a-z][a-z0-9-]*)\\b");
  std::smatch m;
  while (std::getline(in, line) && !line.empty())
    if (std::regex_search(line, m, sub)) names.push_back(m[1]);
  return names;
}

// Every command of the binary with its flags, walked from --help.
void walk_help(std::vector<std::string> path, std::map<std::string, std::set<std::string>>* out) {
  CliResult r = help_of(path);
  ASSERT_EQ(r.rc, 0) << joined(path);
  const auto subs = help_subcommands(r.out);
  if (subs.empty()) {
    (*out)[joined(path)] = help_flags(r.out);
    return;
  }
  for (const auto& s : subs) {
    auto next = path;
    next.push_back(s);
    walk_help(next, out);
  }
}

// README rows between <!-- commands --> and <!-- /commands -->:
// | `cachevault CMD` | `--flag X` ... | what it does |
std::map<std::string, std::set<std::string>> readme_table() {
  std::ifstream in(CACHEVAULT_SOURCE_DIR "/README.md");
  std::string line;
  bool inside = false;
  std::map<std::string, std::set<std::string>> rows;
  const std::regex row("^\\| `cachevault ([a-z][a-z ]*[a-z])` \\|([^|]*)\\|");
  const std::regex flag("--[a-z][a-z0-9-]*");
  std::smatch m;
  while (std::getline(in, line)) {
    if (line.find("<!-- commands -->") != std::string::npos) inside = true;
    if (line.find("<!-- /commands -->") != std::string::npos) inside = false;
    // An escaped pipe (\|) inside a cell is not a cell border.
    for (size_t at = line.find("\\|"); at != std::string::npos; at = line.find("\\|", at)) line.replace(at, 2, "/");
    if (!inside || !std::regex_search(line, m, row)) continue;
    auto& flags = rows[m[1]];
    const std::string cell = m[2];
    for (auto it = std::sregex_iterator(cell.begin(), cell.end(), flag); it != std::sregex_iterator(); ++it)
      flags.insert(it->str());
  }
  return rows;
}

TEST(CliTest, ReadmeCommandTableMatchesHelp) {
  std::map<std::string, std::set<std::string>> help;
  walk_help({}, &help);
  const auto readme = readme_table();
  ASSERT_FALSE(readme.empty()) << "no command table between <!-- commands --> and <!-- /commands --> in README.md";
  for (const auto& [cmd, flags] : help) {
    auto it = readme.find(cmd);
    if (it == readme.end()) {
      ADD_FAILURE() << "README.md's command table has no row for `cachevault " << cmd << "`";
      continue;
    }
    for (const auto& f : flags)
      EXPECT_TRUE(it->second.count(f)) << "`cachevault " << cmd << " --help` has " << f << "; README.md's table does not";
    for (const auto& f : it->second)
      EXPECT_TRUE(flags.count(f)) << "README.md's table gives `cachevault " << cmd << "` " << f << "; --help does not";
  }
  for (const auto& [cmd, flags] : readme)
    EXPECT_TRUE(help.count(cmd)) << "README.md's table has `cachevault " << cmd << "`, which --help does not list";
}

}  // namespace
}  // namespace cv::test
