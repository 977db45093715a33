// Validation of `cluster up` options.
#include "launcher/cluster_options.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "shm/block.h"

namespace cv::launcher {

Status parse_bytes(const std::string& flag, const std::string& text, uint64_t* out) {
  const std::string bad = flag + " '" + text + "' is not a size (use e.g. 1048576, 64K, 512M, 2G)";
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return Status::invalid(bad);
  // CLI11's size parser, the one the command line's size flags use: binary
  // units (K, M, G, T, with or without B or iB), any case.
  static const CLI::AsSizeValue kSize(false);
  std::string value = text;
  try {
    if (!kSize(value).empty()) return Status::invalid(bad);
  } catch (const CLI::ValidationError& e) {
    const std::string why = e.what();
    if (why.find("overflow") != std::string::npos) return Status::invalid(flag + " '" + text + "' is too large");
    return Status::invalid(bad);
  }
  uint64_t n = 0;
  if (!CLI::detail::lexical_cast(value, n)) return Status::invalid(bad);
  *out = n;
  return Status::ok();
}

static std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> parts;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) parts.push_back(item);
  if (!s.empty() && s.back() == ',') parts.push_back("");
  return parts;
}

namespace {

bool loopback_port_free(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;  // cannot tell; the node will say
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

}  // namespace

Status build_config(const ClusterOptions& o, shm::ClusterConfig* c) {
  std::memset(c, 0, sizeof *c);
  if (Status s = shm::validate_cluster_name(o.name); !s) return s;
  if (o.nodes < 1 || o.nodes > shm::kMaxServingNodes)
    return Status::invalid("--nodes " + std::to_string(o.nodes) + " is out of range (1 to " +
                           std::to_string(shm::kMaxServingNodes) + ")");
  if (o.replicas < 1 || o.replicas > shm::kMaxReplicas)
    return Status::invalid("--replicas " + std::to_string(o.replicas) + " is out of range (1 to " +
                           std::to_string(shm::kMaxReplicas) + ")");
  if (o.replicas > o.nodes)
    return Status::invalid("--replicas " + std::to_string(o.replicas) + " is larger than --nodes " +
                           std::to_string(o.nodes) + ": each replica needs its own node");
  if (o.targets < 0 || o.targets > shm::kMaxTargets)
    return Status::invalid("--targets " + std::to_string(o.targets) + " is out of range (0 to " +
                           std::to_string(shm::kMaxTargets) + ")");
  if (o.partitions < 1 || o.partitions > shm::kMaxPartitions)
    return Status::invalid("--partitions " + std::to_string(o.partitions) + " is out of range (1 to " +
                           std::to_string(shm::kMaxPartitions) + ")");
  c->serving_nodes = uint32_t(o.nodes);
  c->targets = uint32_t(o.targets);
  c->replicas = uint32_t(o.replicas);
  c->partitions = uint32_t(o.partitions);

  for (int i = 0; i < o.nodes; ++i) c->weights[i] = 1.0;
  if (!o.weights.empty()) {
    auto parts = split_commas(o.weights);
    if (int(parts.size()) != o.nodes)
      return Status::invalid("--weights '" + o.weights + "' has " + std::to_string(parts.size()) +
                             " values for " + std::to_string(o.nodes) + " nodes");
    for (int i = 0; i < o.nodes; ++i) {
      size_t pos = 0;
      double w = 0;
      try {
        w = std::stod(parts[i], &pos);
      } catch (...) {
        pos = 0;
      }
      if (pos != parts[i].size() || parts[i].empty() || !std::isfinite(w) || w <= 0 || w > 1e6)
        return Status::invalid("--weights value '" + parts[i] + "' must be a positive number");
      c->weights[i] = w;
    }
  }
  if (!o.target_quota.empty()) {
    auto parts = split_commas(o.target_quota);
    if (parts.size() != 1 && int(parts.size()) != o.targets)
      return Status::invalid("--target-quota '" + o.target_quota + "' needs one size or one per target (" +
                             std::to_string(o.targets) + ")");
    for (int t = 0; t < o.targets; ++t) {
      const std::string& p = parts.size() == 1 ? parts[0] : parts[t];
      if (Status s = parse_bytes("--target-quota", p, &c->target_quota[t]); !s) return s;
      if (c->target_quota[t] == 0) return Status::invalid("--target-quota must be larger than 0");
    }
  }
  if (o.port < 0 || o.port > 65535 || (o.port > 0 && o.port + o.nodes - 1 > 65535))
    return Status::invalid("--port " + std::to_string(o.port) + " leaves no room for " + std::to_string(o.nodes) +
                           " nodes below port 65536 (use 1..65535, or 0 for free ports)");
  // A taken port would only show as a node dying at start: say which.
  for (int i = 0; o.port > 0 && i < o.nodes; ++i)
    if (!loopback_port_free(o.port + i))
      return Status::invalid("--port " + std::to_string(o.port) + ": 127.0.0.1:" + std::to_string(o.port + i) +
                             " (node " + std::to_string(i) + ") is already in use");
  c->redis_port_base = uint32_t(o.port);
  if (o.requirepass.size() >= sizeof c->requirepass)
    return Status::invalid("--requirepass is longer than " + std::to_string(sizeof c->requirepass - 1) + " bytes");
  std::memcpy(c->requirepass, o.requirepass.data(), o.requirepass.size());
  if (!o.node_memory.empty()) {
    if (Status s = parse_bytes("--node-memory", o.node_memory, &c->node_memory); !s) return s;
    if (c->node_memory == 0) return Status::invalid("--node-memory must be larger than 0");
  }
  std::error_code ec;
  std::filesystem::path dir = o.dir.empty() ? std::filesystem::path("cachevault-data") / o.name
                                            : std::filesystem::path(o.dir);
  dir = std::filesystem::absolute(dir, ec).lexically_normal();
  std::string d = dir.string();
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  if (d.size() >= shm::kPathBytes - 64) return Status::invalid("--dir '" + d + "' is too long");
  // Each serving node's Redis Unix socket is <dir>/node<ID>.sock, and
  // sun_path holds 107 bytes.
  if (d.size() + std::strlen("/node31.sock") > 107)
    return Status::invalid("--dir '" + d + "' is too long for the nodes' Redis Unix sockets (" +
                           std::to_string(107 - std::strlen("/node31.sock")) + " bytes at most)");
  std::strncpy(c->data_dir, d.c_str(), shm::kPathBytes - 1);
  return Status::ok();
}

}  // namespace cv::launcher
