// Restore checkpoint encoding, atomic write and checked read.
#include "client/restore_checkpoint.h"

#include <xxhash.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace cv::client {

namespace {
template <typename T>
void put(std::string* s, T v) {
  s->append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
bool get(std::string_view* s, T* v) {
  if (s->size() < sizeof *v) return false;
  std::memcpy(v, s->data(), sizeof *v);
  s->remove_prefix(sizeof *v);
  return true;
}
}  // namespace

Status write_checkpoint(const std::string& path, const RestoreCheckpoint& c, shm::FileEnv& env) {
  std::string buf;
  put(&buf, kCheckpointMagic);
  put(&buf, c.file_checksum);
  put(&buf, c.backup_id);
  put(&buf, c.cluster.start_time_ns);
  put(&buf, c.cluster.launcher_pid);
  put(&buf, c.position);
  put(&buf, uint64_t(c.failed.size()));
  for (const auto& r : c.failed) {
    put(&buf, uint16_t(r.key.size()));
    put(&buf, uint32_t(r.value.size()));
    put(&buf, r.version);
    put(&buf, r.timestamp);
    put(&buf, r.op);
    put(&buf, r.expire_ms);
    buf += r.key;
    buf += r.value;
  }
  put(&buf, uint64_t(XXH3_64bits(buf.data(), buf.size())));
  return shm::write_file_atomic(env, path, buf, shm::Replace::kAllowed);
}

Status read_checkpoint(const std::string& path, RestoreCheckpoint* c) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("no restore checkpoint at " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  const auto bad = [&](const char* what) { return Status::corrupt("restore checkpoint " + path + ": " + what, 0); };
  if (data.size() < 48) return bad("too short");
  uint64_t sum;
  std::memcpy(&sum, data.data() + data.size() - 8, 8);
  if (sum != XXH3_64bits(data.data(), data.size() - 8)) return bad("checksum mismatch");
  std::string_view s(data.data(), data.size() - 8);
  uint64_t magic = 0, count = 0;
  get(&s, &magic);
  if (magic != kCheckpointMagic && magic != kCheckpointMagicV2 && magic != kCheckpointMagicV1)
    return bad("not a checkpoint");
  get(&s, &c->file_checksum);
  get(&s, &c->backup_id);
  c->cluster = {};
  if (magic != kCheckpointMagicV1 && (!get(&s, &c->cluster.start_time_ns) || !get(&s, &c->cluster.launcher_pid)))
    return bad("too short");
  if (!get(&s, &c->position) || !get(&s, &count)) return bad("too short");
  if (count > s.size()) return bad("record count out of range");
  c->failed.clear();
  for (uint64_t i = 0; i < count; ++i) {
    uint16_t kl;
    uint32_t vl;
    OwnedRecord r;
    if (!get(&s, &kl) || !get(&s, &vl) || !get(&s, &r.version) || !get(&s, &r.timestamp) || !get(&s, &r.op))
      return bad("truncated record");
    if (magic == kCheckpointMagic && !get(&s, &r.expire_ms)) return bad("truncated record");
    if (s.size() < size_t(kl) + vl) return bad("truncated record");
    r.key.assign(s.substr(0, kl));
    r.value.assign(s.substr(kl, vl));
    s.remove_prefix(size_t(kl) + vl);
    r.seq = c->position;
    c->failed.push_back(std::move(r));
  }
  return Status::ok();
}

}  // namespace cv::client
