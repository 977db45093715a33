// How every command reports to its caller: results on stdout (text, or one
// JSON object for programs), errors on stderr as "cachevault: <message>" and,
// under --json, also as {"schema", "error", "exit"} on stdout, so a script
// that reads stdout learns of a failure without parsing stderr. The shapes
// are described in docs/json.md.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "shm/limits.h"

namespace cv::client {

// Exit codes of CLI.md, declared once for every process in shm/limits.h:
// 0 ok, 1 runtime failure (a missing file, a dead cluster), 2 bad flag,
// argument or value, 3 corrupt or unreadable data file.
using shm::kExitCorrupt;
using shm::kExitFailure;
using shm::kExitOk;
using shm::kExitUsage;

// The version of every JSON object the CLI prints, as its "schema" field.
// Fields are only ever added under one version; it changes when one is
// removed or changes meaning (docs/json.md).
inline constexpr int kJsonSchema = 1;

// Whether this process runs a command with --json: errors then also go to
// stdout as JSON. Set once, before the command runs.
void set_json_output(bool on);
bool json_output();

// Prints the error on stderr (and as JSON under --json) and returns `exit`.
int report_error(int exit, const std::string& message);
// The JSON error object alone, for a failure already told on stderr.
void print_json_error(int exit, const std::string& message);
// Whether report_error has printed a JSON error object in this process.
bool json_error_printed();

// Prints one JSON object as one line on stdout, with "schema" added.
void print_json(nlohmann::json j);
void print_json(nlohmann::ordered_json j);

}  // namespace cv::client
