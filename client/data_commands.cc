// put, get, del: one record through the write pipeline or from the replicas.
#include "client/data_commands.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "client/cli_output.h"
#include "client/cluster_client.h"
#include "client/record_json.h"
#include "client/write_pipeline.h"
#include "node/distribution.h"
#include "node/record_store.h"
#include "shm/expiry.h"
#include "shm/record_order.h"

namespace cv::client {

int fail(const std::string& message) { return report_error(kExitFailure, message); }

namespace {

int check_key(const std::string& key) {
  if (key.empty() || key.size() > shm::kMaxKeyBytes)
    return report_error(kExitUsage, "key of " + std::to_string(key.size()) + " bytes is out of range (1 to " +
                                        std::to_string(shm::kMaxKeyBytes) + " bytes)");
  return 0;
}

int check_value_size(const std::string& what, uint64_t size) {
  if (size > shm::kMaxValueBytes)
    return report_error(kExitUsage, what + " of " + std::to_string(size) + " bytes is larger than the limit of " +
                                        std::to_string(shm::kMaxValueBytes) + " bytes (16 MiB)");
  return 0;
}

int write_one(const std::string& cluster, const std::string& key, const std::string& value, shm::RecOp op,
              bool json) {
  if (int rc = check_key(key)) return rc;
  if (int rc = check_value_size("VALUE", value.size())) return rc;
  std::unique_ptr<ClusterClient> c;
  if (Status s = ClusterClient::connect(cluster, &c); !s) return fail(s.message());
  PipelineOptions opt;
  opt.window = 1;
  opt.batch_records = 1;
  opt.max_attempts = 6;
  uint64_t acked_version = 0;
  WritePipeline p(*c, opt, [&](std::string_view, uint64_t v, shm::RecStatus) { acked_version = v; });
  Status s = p.submit(key, value, uint8_t(op), 0, 0, 0);
  if (s) s = p.flush();
  const bool put = op == shm::RecOp::kPut;
  if (!s) return fail((put ? "put " : "del ") + key + ": " + s.message());
  if (json) {
    nlohmann::ordered_json j;
    j["key"] = key;
    j["version"] = acked_version;
    if (put) j["bytes"] = value.size();
    print_json(std::move(j));
  }
  return 0;
}

// Reads a whole value file, refusing a directory, a read error or a value
// over the limit (reported with the file's real size when it has one).
int read_value_file(const std::string& path, std::string* value) {
  const bool use_stdin = path == "-";
  FILE* f = use_stdin ? stdin : fopen(path.c_str(), "rb");
  if (!f) return fail("--value-file " + path + ": " + strerror(errno));
  struct stat st {};
  if (fstat(fileno(f), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      if (!use_stdin) fclose(f);
      return report_error(kExitUsage, "--value-file " + path + " is a directory, not a file");
    }
    if (S_ISREG(st.st_mode)) {
      if (int rc = check_value_size("--value-file " + path, uint64_t(st.st_size))) {
        if (!use_stdin) fclose(f);
        return rc;
      }
    }
  }
  char buf[65536];
  size_t n;
  // A pipe has no size: stop one chunk past the limit and say "more than".
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    value->append(buf, n);
    if (value->size() > shm::kMaxValueBytes) break;
  }
  const bool read_error = ferror(f);
  const int err = errno;
  if (!use_stdin) fclose(f);
  if (read_error) return fail("--value-file " + path + ": " + strerror(err));
  if (value->size() > shm::kMaxValueBytes)
    return report_error(kExitUsage, "--value-file " + path + " holds more than the limit of " +
                                        std::to_string(shm::kMaxValueBytes) + " bytes (16 MiB)");
  return 0;
}

}  // namespace

int cmd_put(const std::string& cluster, const std::string& key, const std::string& value, bool json) {
  return write_one(cluster, key, value, shm::RecOp::kPut, json);
}

int cmd_put_file(const std::string& cluster, const std::string& key, const std::string& path, bool json) {
  std::string value;
  if (int rc = read_value_file(path, &value)) return rc;
  return cmd_put(cluster, key, value, json);
}

int cmd_del(const std::string& cluster, const std::string& key, bool json) {
  return write_one(cluster, key, "", shm::RecOp::kDelete, json);
}

int cmd_get(const std::string& cluster, const std::string& key, const GetOptions& o) {
  if (int rc = check_key(key)) return rc;
  std::unique_ptr<ClusterClient> c;
  if (Status s = ClusterClient::connect(cluster, &c); !s) return fail(s.message());
  const auto& t = c->table();
  const uint32_t p = node::partition_of(key, t.partitions);
  shm::BatchBuilder req;
  req.add(shm::WireRecord{uint16_t(key.size()), 0, 0, 0, 0, 0, 0, 0, 0}, key, {});
  const std::string_view payload = req.finish();
  // Ask every live replica and keep the newest answer: a replica that took
  // over a partition after a failure may not hold the key.
  bool found = false, any_answer = false;
  std::string best_value;
  uint64_t best_v = 0, best_ts = 0;
  bool best_tomb = false;
  uint64_t best_expire = 0;
  std::string last_error;
  if (t.lost[p])
    return fail("get " + key + ": partition " + std::to_string(p) + " is lost (every replica of it is gone)");
  for (uint32_t k = 0, holders = t.holders(p); k < holders; ++k) {
    const int n = t.owners[p][k];
    if (!c->node_up(n)) continue;
    std::string reply;
    Status s = c->call(n, shm::MsgType::kGet, payload, &reply, 3000);
    if (!s) {
      last_error = s.message();
      continue;
    }
    any_answer = true;
    shm::BatchReader rd(reply);
    shm::WireRecord r;
    std::string_view rk, rv;
    if (!rd.next(&r, &rk, &rv) || shm::RecStatus(r.status) != shm::RecStatus::kOk) continue;
    const bool tomb = r.op == uint8_t(shm::RecOp::kDelete);
    if (!found || shm::wins({r.version, r.timestamp, tomb, rv}, {best_v, best_ts, best_tomb, best_value})) {
      found = true;
      best_v = r.version;
      best_ts = r.timestamp;
      best_tomb = tomb;
      best_expire = r.expire_ms;
      best_value.assign(rv);
    }
  }
  if (!any_answer)
    return fail("get " + key + ": no replica of partition " + std::to_string(p) + " answered" +
                (last_error.empty() ? "" : " (" + last_error + ")"));
  if (!found || best_tomb || shm::is_expired(best_expire, shm::wall_ms())) return fail("key " + key + " not found");
  if (o.json) {
    print_json(nlohmann::ordered_json::parse(record_json_line(key, best_value, best_v, best_ts, false, best_expire)));
    return 0;
  }
  // The value exactly as stored: a newline is added only for a person
  // reading a terminal (as redis-cli does), never into a pipe or a file.
  fwrite(best_value.data(), 1, best_value.size(), stdout);
  if (!o.raw && isatty(STDOUT_FILENO)) fputc('\n', stdout);
  if (fflush(stdout) != 0) return fail("get " + key + ": writing the value: " + strerror(errno));
  return 0;
}

}  // namespace cv::client
