// A serving node or target process, started by the launcher through exec.
#include "launcher/child_main.h"

#include <cstdio>

#include "node/serving_node.h"
#include "target/target_node.h"

namespace cv::launcher {

int run_child(const std::string& cluster, const std::string& role, int index) {
  if (role == "serving") return node::run_serving_node(cluster, index);
  if (role == "target") return target::run_target_node(cluster, index);
  fprintf(stderr, "cachevault: unknown process role '%s'\n", role.c_str());
  return 2;
}

}  // namespace cv::launcher
