// bench command (being built).
#include "launcher/bench_command.h"

#include "client/data_commands.h"

namespace cv::launcher {
int run_bench(const BenchOptions& o) { return client::fail("bench is not available yet"); }
}  // namespace cv::launcher
