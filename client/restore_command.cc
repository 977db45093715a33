// restore: verify the file, then stream it through an entry node with the
// write pipeline; checkpoint progress for --resume.
#include "client/restore_command.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "client/cli_output.h"
#include "client/cluster_client.h"
#include "client/data_commands.h"
#include "client/progress.h"
#include "client/restore_checkpoint.h"
#include "client/write_pipeline.h"
#include "shm/backup_reader.h"
#include "shm/clock.h"
#include "shm/expiry.h"
#include "shm/failpoints.h"

namespace cv::client {

namespace {

// The checkpoint follows acknowledgements at most this often (one fsync each).
constexpr uint64_t kCheckpointEveryNs = 250'000'000ull;

int corrupt(const std::string& message) { return report_error(kExitCorrupt, message); }

// The reader's messages already name the file (and the offset); others get it.
std::string about_file(const std::string& file, const Status& s) {
  return s.message().find(file) != std::string::npos ? s.message() : file + ": " + s.message();
}

shm::Policy parse_policy(const std::string& p) {
  if (p == "overwrite") return shm::Policy::kOverwrite;
  if (p == "skip-existing") return shm::Policy::kSkipExisting;
  return shm::Policy::kNewer;
}

ClusterIncarnation incarnation_of(const shm::BlockLayout& b) {
  return {b.header.start_time_ns, uint64_t(uint32_t(b.header.launcher_pid))};
}

// The default checkpoint: in the cluster's own directory (the backup's may
// be read-only), one per backup file (its name and whole-file checksum).
std::string default_checkpoint_path(const shm::BlockLayout& b, const std::string& file, uint64_t checksum) {
  char sum[17];
  snprintf(sum, sizeof sum, "%016llx", static_cast<unsigned long long>(checksum));
  return std::string(b.config.data_dir) + "/restore/" + std::filesystem::path(file).filename().string() + "." + sum +
         ".ckpt";
}

// Makes the checkpoint's directory if it is missing (private, as the
// cluster's directory is); an existing directory is left as it is.
Status ensure_checkpoint_dir(const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) return Status::ok();
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return Status::ok();
  if (!std::filesystem::create_directories(dir, ec) && ec) return errno_status("mkdir", dir.string(), ec.value());
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  return Status::ok();
}

Status save(const std::string& path, const fmt::BackupReader& file, const ClusterIncarnation& cluster,
            const WritePipeline& p, uint64_t next_seq) {
  if (failpoint(kFpRestoreClientCheckpoint)) return Status::io_error("checkpoint failed (failpoint)");
  RestoreCheckpoint c;
  c.file_checksum = file.file_checksum();
  c.backup_id = file.backup_id();
  c.cluster = cluster;
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
  if (!s) return corrupt(about_file(o.file, s));
  if (file->kind() != fmt::kConsolidated)
    return corrupt(o.file + " is a node copy, not a consolidated backup file");

  std::unique_ptr<ClusterClient> c;
  if (Status cs = ClusterClient::connect(cluster, &c); !cs) return fail(cs.message());
  int entry = o.entry_node;
  if (entry >= 0 && !c->node_up(entry))
    return fail("--entry-node " + std::to_string(entry) + " is not a live serving node of cluster '" + cluster + "'");
  if (entry < 0) entry = c->live_node(0);
  if (entry < 0) return fail("no serving node of cluster '" + cluster + "' is up");

  const ClusterIncarnation incarnation = incarnation_of(c->layout());
  const std::string ckpt =
      o.checkpoint.empty() ? default_checkpoint_path(c->layout(), o.file, file->file_checksum()) : o.checkpoint;
  RestoreCheckpoint resume;
  if (o.resume) {
    Status rs = read_checkpoint(ckpt, &resume);
    if (rs.code() == Code::kNotFound) {
      fprintf(stderr, "cachevault: --resume: no checkpoint at %s; restoring %s from the beginning\n", ckpt.c_str(),
              o.file.c_str());
      resume = {};
    } else if (!rs) {
      return corrupt(rs.message());
    } else if (resume.file_checksum != file->file_checksum() || resume.backup_id != file->backup_id()) {
      return fail("--resume: checkpoint " + ckpt + " belongs to another backup file");
    } else if (!(resume.cluster == incarnation)) {
      // The records it counts as done went into a cluster that is gone.
      fprintf(stderr,
              "cachevault: --resume: checkpoint %s was written for an earlier run of cluster '%s', which is gone; "
              "restoring %s from the beginning\n",
              ckpt.c_str(), cluster.c_str(), o.file.c_str());
      resume = {};
    }
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
  // The checkpoint exists before the first record is sent: a restore killed
  // at any point can be resumed, and a place it cannot be written is found
  // before anything is sent.
  Status ck = ensure_checkpoint_dir(ckpt);
  if (ck) ck = save(ckpt, *file, incarnation, p, resume.position);
  if (!ck)
    return fail("restore checkpoint " + ckpt + " cannot be written (" + ck.message() +
                "); nothing was sent (choose another place with --checkpoint PATH)");
  const uint64_t skipped = std::min(resume.position, total);
  Progress progress("restore", total, o.quiet);
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
  // Records whose expiry passed before the restore reached them are not
  // written (the cluster would hide them at once); they are counted.
  uint64_t expired = 0;
  for (; cur.valid() && seq < total; cur.next(), ++seq) {
    const fmt::RecordView& r = cur.record();
    if (r.expire_ms && shm::is_expired(r.expire_ms, shm::wall_ms())) {
      ++expired;
      continue;
    }
    run = p.submit(r.key, r.value, uint8_t(shm::RecOp::kPut), r.version, r.timestamp, seq, r.expire_ms);
    if (!run) break;
    if ((seq & 511) == 0) {
      const uint64_t now = mono_ns();
      progress.update(p.low_water(seq));
      if (now - last_ckpt > kCheckpointEveryNs) {
        last_ckpt = now;
        if (Status cs = save(ckpt, *file, incarnation, p, seq); !cs)
          return fail("restore checkpoint " + ckpt + ": " + cs.message());
      }
    }
  }
  if (run && !cur.status().is_ok()) return corrupt(about_file(o.file, cur.status()));
  if (run) run = p.flush();
  progress.done(total);
  const double secs = double(mono_ns() - start) / 1e9;
  if (!run) {
    Status cs = save(ckpt, *file, incarnation, p, seq);
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
  shm::FileEnv::real().unlink(ckpt);
  // This run's work: every record from the resume position on (each one
  // acknowledged), not what an earlier run had done.
  const uint64_t restored = total - skipped - expired;
  const double rate = secs > 0 ? double(restored) / secs : 0;
  if (o.json) {
    nlohmann::ordered_json j;
    j["records"] = restored;
    j["skipped"] = skipped;
    j["stale"] = p.stats().stale;
    j["expired"] = expired;
    j["failed_retries"] = p.stats().failed_retries;
    j["seconds"] = secs;
    j["records_per_s"] = rate;
    j["entry_node"] = entry;
    j["window"] = o.window;
    j["policy"] = o.policy;
    j["resumed_from"] = resume.position;
    j["file_records"] = total;
    print_json(std::move(j));
  } else {
    std::string done_before;
    if (skipped > 0) done_before = ", " + std::to_string(skipped) + " skipped as done by an earlier run";
    if (expired > 0) done_before += ", " + std::to_string(expired) + " left out as expired";
    printf("restored %llu records from %s in %.2f s (%.0f records/s, %llu stale, %llu retried%s)\n",
           static_cast<unsigned long long>(restored), o.file.c_str(), secs, rate,
           static_cast<unsigned long long>(p.stats().stale), static_cast<unsigned long long>(p.stats().failed_retries),
           done_before.c_str());
  }
  return 0;
}

}  // namespace cv::client
