// `cachevault inspect` and `cachevault verify`: read a backup file, check it
// and report, returning the process exit code of CLI.md.
#pragma once

#include <string>

#include "client/cli_output.h"

namespace cv::client {

// Verifies the whole file first (exit 3 on damage, 1 if missing). Then:
// records → one JSON line per record, shaped like `scan --json` (nothing
// else, so the output can be piped like scan's); json → the inspect object
// of CLI.md; neither → a human-readable summary with every block's checksum.
// Output goes to stdout; errors to stderr as one line
// "cachevault: <file>: <problem> at offset N".
int run_inspect(const std::string& path, bool json, bool records);

// Checks every checksum; prints "<file>: ok, N records in M blocks" and
// returns 0, or prints the first problem with its offset and returns 3
// (1 if the file does not exist). json: {"file", "ok", "records", "blocks",
// "bytes", "file_checksum"}; a failure is the {"error", "exit"} object.
int run_verify(const std::string& path, bool json = false);

}  // namespace cv::client
