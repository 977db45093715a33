// The command line of the cachevault binary (CLI.md): parses arguments with
// CLI11 and dispatches to the launcher and client commands.
#pragma once

namespace cv::launcher {

int run_cli(int argc, char** argv);

}  // namespace cv::launcher
