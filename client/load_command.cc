// load: writes synthetic records through the pipelined write path, with an
// optional acknowledgement log of key<TAB>version lines.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>

#include "client/cli_output.h"
#include "client/cluster_client.h"
#include "client/data_commands.h"
#include "client/progress.h"
#include "client/write_pipeline.h"
#include "shm/clock.h"

namespace cv::client {

namespace {

// Fills `value` with printable bytes that depend on (seed, index, round).
void make_value(uint64_t seed, uint64_t index, uint64_t round, std::string* value) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull ^ (index + 1) * 0xBF58476D1CE4E5B9ull ^ round * 0x94D049BB133111EBull;
  for (size_t i = 0; i < value->size(); ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (*value)[i] = char('a' + (x % 26));
  }
}

// Appends acknowledged writes; flushed after every reply so a line on disk
// means the write was acknowledged by then.
class AckLog {
 public:
  explicit AckLog(const std::string& path) {
    if (!path.empty()) fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  }
  ~AckLog() {
    flush();
    if (fd_ >= 0) close(fd_);
  }
  bool failed_to_open(const std::string& path) const { return !path.empty() && fd_ < 0; }
  void add(std::string_view key, uint64_t version) {
    if (fd_ < 0) return;
    buf_.append(key);
    buf_.push_back('\t');
    buf_.append(std::to_string(version));
    buf_.push_back('\n');
  }
  void flush() {
    size_t off = 0;
    while (fd_ >= 0 && off < buf_.size()) {
      ssize_t n = write(fd_, buf_.data() + off, buf_.size() - off);
      if (n <= 0) break;
      off += size_t(n);
    }
    buf_.clear();
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

}  // namespace

int cmd_load(const std::string& cluster, const LoadOptions& o) {
  // The command line checks ranges too; these guard other callers.
  if (o.records == 0) return report_error(kExitUsage, "--records must be at least 1");
  if (o.value_size > shm::kMaxValueBytes)
    return report_error(kExitUsage, "--value-size " + std::to_string(o.value_size) +
                                        " is larger than the limit of " + std::to_string(shm::kMaxValueBytes) +
                                        " bytes (16 MiB)");
  if (o.duration_s < 0) return report_error(kExitUsage, "--duration must not be negative");
  const size_t key_len = o.key_prefix.size() + 10;
  if (key_len > shm::kMaxKeyBytes)
    return report_error(kExitUsage, "--key-prefix is too long (keys may hold at most " +
                                        std::to_string(shm::kMaxKeyBytes) + " bytes)");
  std::unique_ptr<ClusterClient> c;
  if (Status s = ClusterClient::connect(cluster, &c); !s) return fail(s.message());
  AckLog ack(o.ack_log);
  if (ack.failed_to_open(o.ack_log)) return fail("cannot open --ack-log " + o.ack_log + ": " + strerror(errno));
  PipelineOptions opt;
  opt.window = o.window;
  if (o.window == 1) opt.batch_records = 1;  // one write per request: latency is per write
  opt.track_latency = o.latency;
  WritePipeline p(*c, opt, [&ack](std::string_view k, uint64_t v, shm::RecStatus) { ack.add(k, v); });

  Progress progress("load", o.duration_s > 0 ? 0 : o.records, o.quiet);
  const uint64_t start = mono_ns();
  const uint64_t until = o.duration_s > 0 ? start + uint64_t(o.duration_s * 1e9) : 0;
  std::string key(key_len, '0'), value(o.value_size, 'a');
  std::memcpy(key.data(), o.key_prefix.data(), o.key_prefix.size());
  uint64_t written = 0;
  for (uint64_t round = 0;; ++round) {
    for (uint64_t i = 0; i < o.records; ++i) {
      snprintf(key.data() + o.key_prefix.size(), 11, "%010llu", static_cast<unsigned long long>(i));
      key.resize(key_len);
      make_value(o.seed, i, round, &value);
      if (Status s = p.submit(key, value, uint8_t(shm::RecOp::kPut), 0, 0, written++); !s)
        return fail("load: " + s.message());
      if ((written & 1023) == 0) {
        ack.flush();
        progress.update(p.stats().acked);
        if (until && mono_ns() >= until) break;
      }
    }
    if (!until || mono_ns() >= until) break;
  }
  Status s = p.flush();
  ack.flush();
  progress.done(p.stats().acked);
  const double secs = double(mono_ns() - start) / 1e9;
  if (!s) return fail("load: " + s.message());
  const double rate = secs > 0 ? double(p.stats().acked) / secs : 0;
  if (o.json) {
    nlohmann::ordered_json j;
    j["records"] = p.stats().acked;
    j["seconds"] = secs;
    j["records_per_s"] = rate;
    j["failed_retries"] = p.stats().failed_retries;
    if (o.latency && !p.latencies_us().empty()) {
      std::vector<uint32_t> l = p.latencies_us();
      std::sort(l.begin(), l.end());
      j["latency_max_ms"] = l.back() / 1e3;
      j["latency_p99_ms"] = l[l.size() * 99 / 100] / 1e3;
      j["latency_p50_ms"] = l[l.size() / 2] / 1e3;
    }
    print_json(std::move(j));
  } else {
    printf("loaded %llu records in %.2f s (%.0f records/s)\n", static_cast<unsigned long long>(p.stats().acked), secs,
           rate);
  }
  return 0;
}

}  // namespace cv::client
