// restore: verify the file, then stream it through an entry node with the
// write pipeline; checkpoint progress for --resume.
#include "client/restore_command.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "client/cluster_client.h"
#include "client/data_commands.h"
#include "client/progress.h"
#include "client/restore_checkpoint.h"
#include "client/write_pipeline.h"
#include "shm/backup_reader.h"
#include "shm/clock.h"
#include "shm/failpoints.h"

namespace cv::client {

namespace {

constexpr uint64_t kCheckpointEveryNs = 1'000'000'000ull;

int corrupt(const std::string& message) {
  fprintf(stderr, "cachevault: %s\n", message.c_str());
  return 3;
}

shm::Policy parse_policy(const std::string& p) {
  if (p == "overwrite") return shm::Policy::kOverwrite;
  if (p == "skip-existing") return shm::Policy::kSkipExisting;
  return shm::Policy::kNewer;
}

Status save(const std::string& path, const fmt::BackupReader& file, const WritePipeline& p, uint64_t next_seq) {
  if (failpoint(kFpRestoreClientCheckpoint)) return Status::io_error("checkpoint failed (failpoint)");
  RestoreCheckpoint c;
  c.file_checksum = file.file_checksum();
  c.backup_id = file.backup_id();
  c.position = p.low_water(next_seq);
  c.failed.assign(p.failed_list().begin(), p.failed_list().end());
  c.failed.insert(c.failed.end(), p.given_up().begin(), p.given_up().end());
  return write_checkpoint(path, c);
}

}  // namespace

int cmd_restore(const std::string& cluster, const RestoreOptions& o) {
  // The file first: a corrupt file is refused before anything is written.
  std::unique_ptr<fmt::BackupReader> file;
  Status s = fmt::BackupReader::open(o.file, &file);
  if (s.code() == Code::kNotFound) return fail(s.message());
  if (s) s = file->verify_all();
  if (!s) return corrupt(o.file + ": " + s.message() + (s.code() == Code::kCorrupt ? " (at byte offset " + std::to_string(s.offset()) + ")" : ""));
  if (file->kind() != fmt::kConsolidated)
    return corrupt(o.file + " is a node copy, not a consolidated backup file");

  std::unique_ptr<ClusterClient> c;
  if (Status cs = ClusterClient::connect(cluster, &c); !cs) return fail(cs.message());
  int entry = o.entry_node;
  if (entry >= 0 && !c->node_up(entry))
    return fail("--entry-node " + std::to_string(entry) + " is not a live serving node of cluster '" + cluster + "'");
  if (entry < 0) entry = c->live_node(0);
  if (entry < 0) return fail("no serving node of cluster '" + cluster + "' is up");

  const std::string ckpt = o.checkpoint.empty() ? o.file + ".restore-" + cluster : o.checkpoint;
  RestoreCheckpoint resume;
  if (o.resume) {
    Status rs = read_checkpoint(ckpt, &resume);
    if (rs.code() == Code::kNotFound)
      return fail("--resume: no checkpoint at " + ckpt + " (start the restore without --resume)");
    if (!rs) return corrupt(rs.message());
    if (resume.file_checksum != file->file_checksum() || resume.backup_id != file->backup_id())
      return fail("--resume: checkpoint " + ckpt + " belongs to another backup file");
  }

  PipelineOptions opt;
  opt.mode = shm::WriteMode::kKeep;
  opt.policy = parse_policy(o.policy);
  opt.window = o.window;
  opt.batch_records = o.window == 1 ? 1 : 512;
  opt.entry_node = entry;
  std::random_device rd;
  opt.tag = (uint64_t(rd()) << 32 | rd()) | 1;
  opt.expected_records = o.limit ? std::min(o.limit, file->record_count()) : file->record_count();
  WritePipeline p(*c, opt, nullptr);
  for (auto& r : resume.failed) p.requeue(std::move(r));

  const uint64_t total = o.limit ? std::min(o.limit, file->record_count()) : file->record_count();
  Progress progress("restore", total);
  const uint64_t start = mono_ns();
  uint64_t last_ckpt = start;
  // Skip whole blocks below the resume position, then records.
  uint64_t seq = 0;
  size_t first_block = 0;
  while (first_block < file->block_count() && seq + file->block(first_block).records <= resume.position)
    seq += file->block(first_block++).records;
  fmt::RecordCursor cur = file->cursor(first_block);
  for (; cur.valid() && seq < resume.position; cur.next()) ++seq;
  Status run = Status::ok();
  for (; cur.valid() && seq < total; cur.next(), ++seq) {
    const fmt::RecordView& r = cur.record();
    run = p.submit(r.key, r.value, uint8_t(shm::RecOp::kPut), r.version, r.timestamp, seq);
    if (!run) break;
    if ((seq & 4095) == 0) {
      const uint64_t now = mono_ns();
      progress.update(p.low_water(seq));
      if (now - last_ckpt > kCheckpointEveryNs) {
        last_ckpt = now;
        if (Status cs = save(ckpt, *file, p, seq); !cs) return fail("restore checkpoint " + ckpt + ": " + cs.message());
      }
    }
  }
  if (run && !cur.status().is_ok()) return corrupt(o.file + ": " + cur.status().message());
  if (run) run = p.flush();
  progress.done(total);
  const double secs = double(mono_ns() - start) / 1e9;
  if (!run) {
    Status cs = save(ckpt, *file, p, seq);
    std::string msg = "restore of " + o.file + " stopped: " + run.message();
    if (cs) msg += "; progress saved in " + ckpt + ", continue with: cachevault restore " + o.file + " --resume";
    if (!p.given_up().empty()) {
      msg += "\nrecords not written:";
      for (size_t i = 0; i < p.given_up().size() && i < 10; ++i)
        msg += " " + p.given_up()[i].key + " (" + rec_status_name(p.given_up()[i].last) + ")";
      if (p.given_up().size() > 10) msg += " ...";
    }
    return fail(msg);
  }
  std::error_code ec;
  std::filesystem::remove(ckpt, ec);
  const double rate = secs > 0 ? double(total) / secs : 0;
  if (o.json) {
    nlohmann::json j;
    j["records"] = total;
    j["stale"] = p.stats().stale;
    j["failed_retries"] = p.stats().failed_retries;
    j["seconds"] = secs;
    j["records_per_s"] = rate;
    j["entry_node"] = entry;
    j["window"] = o.window;
    j["policy"] = o.policy;
    j["resumed_from"] = resume.position;
    printf("%s\n", j.dump().c_str());
  } else {
    printf("restored %llu records from %s in %.2f s (%.0f records/s, %llu stale, %llu retried)\n",
           static_cast<unsigned long long>(total), o.file.c_str(), secs, rate,
           static_cast<unsigned long long>(p.stats().stale), static_cast<unsigned long long>(p.stats().failed_retries));
  }
  return 0;
}

}  // namespace cv::client
