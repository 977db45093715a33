// Verbs shared by the backup and restore tests: start a cluster (failing the
// test if it does not come up), read its records through `scan`, read a
// backup file through `inspect`, show a process's log tail in a failure.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/cli_runner.h"

namespace cv::test {

inline void Up(TestCluster& c, const std::vector<std::string>& flags = {}, const std::vector<std::string>& env = {}) {
  CliResult r = c.up(flags, env);
  ASSERT_EQ(r.rc, 0) << "cluster up failed: " << r.err;
}

// `scan --json` of a cluster, keyed.
inline RecordMap Scan(TestCluster& c) {
  CliResult r = c.cli({"scan", "--json"});
  EXPECT_EQ(r.rc, 0) << "scan: " << r.err;
  return records_by_key(r.out);
}

// `inspect FILE --records`, keyed; also checks the lines are strictly sorted
// by key (so each key appears once).
inline RecordMap Inspect(const std::string& file) {
  CliResult r = run_cli({"inspect", file, "--records"});
  EXPECT_EQ(r.rc, 0) << "inspect " << file << ": " << r.err;
  auto lines = parse_json_lines(r.out);
  for (size_t i = 1; i < lines.size(); ++i) {
    const auto& a = lines[i - 1]["key"];
    const auto& b = lines[i]["key"];
    if (a.is_string() && b.is_string() && !(a.get<std::string>() < b.get<std::string>())) {
      ADD_FAILURE() << "inspect --records lines not strictly sorted at line " << i << ": " << a << " then " << b;
      break;
    }
  }
  RecordMap m = records_by_key(lines);
  EXPECT_EQ(m.size(), lines.size()) << "a key appears more than once in " << file;
  return m;
}

// The end of a process's log, for failure messages.
inline std::string LogTail(TestCluster& c, const std::string& process, size_t bytes = 2000) {
  std::string l = c.log(process);
  return "---- " + process + ".log (tail) ----\n" + (l.size() > bytes ? l.substr(l.size() - bytes) : l);
}

}  // namespace cv::test
