// The cachevault binary.
#include "launcher/cli.h"

int main(int argc, char** argv) { return cv::launcher::run_cli(argc, argv); }
