// put, get, del: one record through the write pipeline or from the replicas.
#include "client/data_commands.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "client/cluster_client.h"
#include "client/write_pipeline.h"
#include "node/distribution.h"
#include "node/record_store.h"
#include "shm/record_order.h"

namespace cv::client {

int fail(const std::string& message) {
  fprintf(stderr, "cachevault: %s\n", message.c_str());
  return 1;
}

static int check_key_value(const std::string& key, const std::string& value) {
  if (key.empty() || key.size() > shm::kMaxKeyBytes) {
    fprintf(stderr, "cachevault: key of %zu bytes is out of range (1 to %zu bytes)\n", key.size(),
            shm::kMaxKeyBytes);
    return 2;
  }
  if (value.size() > shm::kMaxValueBytes) {
    fprintf(stderr, "cachevault: value of %zu bytes is larger than the limit of %zu bytes\n", value.size(),
            shm::kMaxValueBytes);
    return 2;
  }
  return 0;
}

static int write_one(const std::string& cluster, const std::string& key, const std::string& value, shm::RecOp op) {
  if (int rc = check_key_value(key, value)) return rc;
  std::unique_ptr<ClusterClient> c;
  if (Status s = ClusterClient::connect(cluster, &c); !s) return fail(s.message());
  PipelineOptions opt;
  opt.window = 1;
  opt.batch_records = 1;
  opt.max_attempts = 6;
  WritePipeline p(*c, opt, nullptr);
  Status s = p.submit(key, value, uint8_t(op), 0, 0, 0);
  if (s) s = p.flush();
  if (!s) return fail((op == shm::RecOp::kPut ? "put " : "del ") + key + ": " + s.message());
  return 0;
}

int cmd_put(const std::string& cluster, const std::string& key, const std::string& value) {
  return write_one(cluster, key, value, shm::RecOp::kPut);
}

int cmd_put_file(const std::string& cluster, const std::string& key, const std::string& path) {
  std::string value;
  FILE* f = path == "-" ? stdin : fopen(path.c_str(), "rb");
  if (!f) return fail("--value-file " + path + ": " + strerror(errno));
  char buf[65536];
  size_t n;
  // Read one byte past the limit so an oversized value is recognised without
  // reading all of it.
  while ((n = fread(buf, 1, sizeof buf, f)) > 0 && value.size() <= shm::kMaxValueBytes) value.append(buf, n);
  if (f != stdin) fclose(f);
  return cmd_put(cluster, key, value);
}

int cmd_del(const std::string& cluster, const std::string& key) {
  return write_one(cluster, key, "", shm::RecOp::kDelete);
}

int cmd_get(const std::string& cluster, const std::string& key) {
  if (int rc = check_key_value(key, "")) return rc;
  std::unique_ptr<ClusterClient> c;
  if (Status s = ClusterClient::connect(cluster, &c); !s) return fail(s.message());
  const auto& t = c->table();
  const uint32_t p = node::partition_of(key, t.partitions);
  shm::BatchBuilder req;
  req.add(shm::WireRecord{uint16_t(key.size()), 0, 0, 0, 0, 0, 0, 0}, key, {});
  const std::string_view payload = req.finish();
  // Ask every live replica and keep the newest answer: a replica that took
  // over a partition after a failure may not hold the key.
  bool found = false, any_answer = false;
  std::string best_value;
  uint64_t best_v = 0, best_ts = 0;
  bool best_tomb = false;
  std::string last_error;
  for (uint32_t k = 0; k < t.replicas; ++k) {
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
      best_value.assign(rv);
    }
  }
  if (!any_answer)
    return fail("get " + key + ": no replica of partition " + std::to_string(p) + " answered" +
                (last_error.empty() ? "" : " (" + last_error + ")"));
  if (!found || best_tomb) {
    fprintf(stderr, "cachevault: key %s not found\n", key.c_str());
    return 1;
  }
  fwrite(best_value.data(), 1, best_value.size(), stdout);
  fputc('\n', stdout);
  return 0;
}

}  // namespace cv::client
