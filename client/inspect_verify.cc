// inspect and verify: open a backup file, verify every checksum, then print
// a summary, the inspect JSON object or the records.
#include "client/inspect_verify.h"

#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "client/record_json.h"
#include "shm/backup_reader.h"

namespace cv::client {
namespace {

// Exit code for a failed open or verify: a missing file is a plain failure,
// anything the file itself is to blame for (or cannot be read) is 3.
int exit_code_of(const Status& s) {
  switch (s.code()) {
    case Code::kNotFound: return kExitFailure;
    case Code::kCorrupt:
    case Code::kIoError: return kExitCorrupt;
    case Code::kOk:
    case Code::kInvalidArgument:
    case Code::kTimeout:
    case Code::kPeerDown:
    case Code::kFull:
    case Code::kStale:
    case Code::kBusy:
    case Code::kInternal: return kExitFailure;
  }
  return kExitFailure;
}

int report(const Status& s) {
  std::cout.flush();
  return report_error(exit_code_of(s), s.message());
}

Status open_verified(const std::string& path, std::unique_ptr<fmt::BackupReader>* out) {
  if (Status s = fmt::BackupReader::open(path, out); !s) return s;
  return (*out)->verify_all();
}

nlohmann::ordered_json bytes_json(std::string_view s) {
  if (is_utf8(s)) return std::string(s);
  std::string b64;
  append_base64(s, &b64);
  return nlohmann::ordered_json{{"base64", b64}};
}

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

nlohmann::ordered_json summary_json(const fmt::BackupReader& r) {
  const fmt::FileHeaderInfo& h = r.header();
  nlohmann::ordered_json j;
  j["format_version"] = r.format_version();
  j["backup_id"] = h.backup_id;
  j["records"] = r.record_count();
  j["blocks"] = r.block_count();
  j["first_key"] = bytes_json(r.first_key());
  j["last_key"] = bytes_json(r.last_key());
  j["source"] = {{"nodes", h.source_nodes},
                 {"replicas", h.source_replicas},
                 {"partitions", h.source_partitions}};
  j["kind"] = fmt::kind_name(h.kind);
  if (h.kind == fmt::kNodeCopy) j["node_id"] = h.node_id;
  j["created_ns"] = h.created_ns;
  j["bytes"] = r.size();
  j["file_checksum"] = hex(r.file_checksum());
  j["file"] = r.path();
  j["records_with_expiry"] = r.records_with_expiry();
  // A partial backup (taken with --allow-partial while partitions were lost).
  if (!h.missing_partitions.empty()) j["missing_partitions"] = h.missing_partitions;
  return j;
}

void print_summary(const fmt::BackupReader& r, std::ostream& out) {
  const fmt::FileHeaderInfo& h = r.header();
  std::string first, last;
  append_json_bytes(r.first_key(), &first);
  append_json_bytes(r.last_key(), &last);
  out << "file            " << r.path() << "\n"
      << "format version  " << r.format_version() << "\n"
      << "kind            " << fmt::kind_name(h.kind);
  if (h.kind == fmt::kNodeCopy) out << " (node " << h.node_id << ")";
  out << "\n"
      << "backup id       " << h.backup_id << "\n"
      << "created (ns)    " << h.created_ns << "\n"
      << "source          " << h.source_nodes << " nodes, " << h.source_replicas << " replicas, "
      << h.source_partitions << " partitions\n"
      << "size            " << r.size() << " bytes\n"
      << "records         " << r.record_count() << " (" << r.records_with_expiry() << " with an expiry)\n"
      << "blocks          " << r.block_count() << "\n"
      << "key range       " << first << " .. " << last << "\n";
  if (!h.missing_partitions.empty()) {
    out << "PARTIAL BACKUP  " << h.missing_partitions.size() << " partitions missing (lost when backed up):";
    for (uint32_t p : h.missing_partitions) out << " " << p;
    out << "\n";
  }
  out
      << "file checksum   " << hex(r.file_checksum()) << " (verified)\n"
      << "blocks:\n"
      << "   #       offset   records  payload   checksum          first key\n";
  std::string key;
  for (size_t i = 0; i < r.block_count(); ++i) {
    const fmt::BlockInfo& b = r.block(i);
    key.clear();
    append_json_bytes(b.first_key, &key);
    char line[96];
    std::snprintf(line, sizeof line, "%4zu %12" PRIu64 " %9" PRIu32 " %8" PRIu32 "   %s  ", i,
                  b.offset, b.records, b.payload_bytes, hex(b.checksum).c_str());
    out << line << key << "\n";
  }
}

}  // namespace

int run_inspect(const std::string& path, bool json, bool records) {
  std::unique_ptr<fmt::BackupReader> reader;
  if (Status s = open_verified(path, &reader); !s) return report(s);
  if (records) {
    std::string line;
    for (fmt::RecordCursor c = reader->cursor(); c.valid(); c.next()) {
      const fmt::RecordView& r = c.record();
      line.clear();
      append_record_json_line(&line, r.key, r.value, r.version, r.timestamp, r.tombstone, r.expire_ms);
      line.push_back('\n');
      std::cout.write(line.data(), static_cast<std::streamsize>(line.size()));
    }
  } else if (json) {
    std::cout.flush();
    print_json(summary_json(*reader));
  } else {
    print_summary(*reader, std::cout);
  }
  std::cout.flush();
  return std::cout ? kExitOk : kExitFailure;
}

int run_verify(const std::string& path, bool json) {
  std::unique_ptr<fmt::BackupReader> reader;
  if (Status s = open_verified(path, &reader); !s) return report(s);
  if (json) {
    nlohmann::ordered_json j;
    j["file"] = path;
    j["ok"] = true;
    j["records"] = reader->record_count();
    j["blocks"] = reader->block_count();
    j["bytes"] = reader->size();
    j["file_checksum"] = hex(reader->file_checksum());
    print_json(std::move(j));
    return kExitOk;
  }
  std::cout << path << ": ok, " << reader->record_count() << " records in " << reader->block_count()
            << " blocks, " << reader->size() << " bytes" << std::endl;
  return kExitOk;
}

}  // namespace cv::client
