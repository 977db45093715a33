// CLUSTER commands of the Redis front end: the distribution table shown as
// Redis Cluster shows its slot map. Partition p holds the contiguous slots
// [first_slot_of(p), first_slot_of(p + 1)); its primary is a Redis master
// for them and its other owners replicas. Every serving node is listed as
// a master, since each is primary for some partitions.
#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "node/distribution.h"
#include "node/redis_service.h"
#include "node/write_ops.h"
#include "resp/key_slot.h"

namespace cv::node {
namespace {

std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = char(std::tolower((unsigned char)c));
  return o;
}

struct SlotRange {
  uint32_t first, last;  // inclusive
  std::vector<int> owners;  // primary first
};

// Adjacent partitions with the same owners, merged.
std::vector<SlotRange> slot_ranges(const shm::TableCopy& t) {
  std::vector<SlotRange> out;
  for (uint32_t p = 0; p < t.partitions; ++p) {
    std::vector<int> owners;
    // Only the live holders: an under-replicated partition lists fewer.
    for (uint32_t k = 0, n = t.holders(p); k < n; ++k) owners.push_back(t.owners[p][k]);
    const uint32_t a = first_slot_of(p, t.partitions), b = first_slot_of(p + 1, t.partitions) - 1;
    if (owners.empty()) continue;  // a lost partition: its slots are not served
    if (!out.empty() && out.back().owners == owners && out.back().last + 1 == a) out.back().last = b;
    else out.push_back({a, b, owners});
  }
  return out;
}

}  // namespace

std::string RedisService::node_name(int node) const {
  // 40 hex digits, fixed for a cluster name and node id.
  const std::string seed = block_.cluster() + "/node" + std::to_string(node);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%016llx%016llx%08x", (unsigned long long)XXH64(seed.data(), seed.size(), 1),
                (unsigned long long)XXH64(seed.data(), seed.size(), 2), unsigned(node));
  return std::string(buf, 40);
}

int RedisService::node_port(int node) const {
  if (node < 0 || node >= shm::kMaxServingNodes) return 0;
  return int(b_.nodes[node].redis_port.load());
}

bool RedisService::primary_here(uint32_t partition) const {
  return !table_.owners.empty() && table_.partitions == store_.partitions() && partition < table_.partitions &&
         table_.owners[partition][0] == id_;
}

uint64_t RedisService::count_primary_keys(uint64_t* expires, uint64_t* avg_ttl_ms) {
  shm::refresh_table(b_, &table_);
  uint64_t n = 0, with_expiry = 0, ttl_sum_ms = 0;
  const uint64_t now_ms = shm::wall_ms();
  for (uint32_t p = 0; p < store_.partitions(); ++p) {
    if (!primary_here(p)) continue;
    store_.for_each(p, [&](std::string_view, const RecordRef& r) {
      if (r.tombstone || shm::is_expired(r.expire_ms, now_ms)) return;
      ++n;
      if (r.expire_ms == 0) return;
      ++with_expiry;
      ttl_sum_ms += r.expire_ms - now_ms;  // not expired: later than now
    });
  }
  if (expires) *expires = with_expiry;
  if (avg_ttl_ms) *avg_ttl_ms = with_expiry ? ttl_sum_ms / with_expiry : 0;
  return n;
}

void RedisService::cmd_cluster(Connection& c, const std::vector<std::string_view>& a) {
  shm::refresh_table(b_, &table_);
  const std::string sub = lower(a[1]);
  resp::ReplyWriter w = c.reply();
  const int nodes = int(b_.config.serving_nodes);
  auto up = [&](int n) { return shm::NodeState(b_.nodes[n].state.load()) == shm::NodeState::kUp; };
  if (sub == "myid" && a.size() == 2) return w.bulk(node_name(id_));
  if (sub == "keyslot" && a.size() == 3) return w.integer(resp::key_slot(a[2]));
  if (sub == "countkeysinslot" && a.size() == 3) {
    int64_t slot = 0;
    if (!parse_int64(a[2], &slot)) return w.error("ERR value is not an integer or out of range");
    if (slot < 0 || slot >= int64_t(resp::kSlotCount)) return w.error("ERR Invalid slot");
    int64_t n = 0;
    const uint64_t now_ms = shm::wall_ms();
    store_.for_each(partition_of_slot(uint32_t(slot), store_.partitions()), [&](std::string_view k, const RecordRef& r) {
      n += !r.tombstone && !shm::is_expired(r.expire_ms, now_ms) && resp::key_slot(k) == slot;
    });
    return w.integer(n);
  }
  if (sub == "getkeysinslot" && a.size() == 4) {
    int64_t slot = 0, count = 0;
    if (!parse_int64(a[2], &slot) || !parse_int64(a[3], &count))
      return w.error("ERR value is not an integer or out of range");
    if (slot < 0 || slot >= int64_t(resp::kSlotCount) || count < 0) return w.error("ERR Invalid slot or number of keys");
    std::vector<std::string> keys;
    const uint64_t now_ms = shm::wall_ms();
    store_.for_each(partition_of_slot(uint32_t(slot), store_.partitions()), [&](std::string_view k, const RecordRef& r) {
      if (!r.tombstone && !shm::is_expired(r.expire_ms, now_ms) && resp::key_slot(k) == slot &&
          keys.size() < size_t(count))
        keys.emplace_back(k);
    });
    w.array(keys.size());
    for (const auto& k : keys) w.bulk(k);
    return;
  }
  if (table_.owners.empty()) return w.error("CLUSTERDOWN Hash slot not served");
  const auto ranges = slot_ranges(table_);
  if (sub == "slots" && a.size() == 2) {
    // Each range with its primary only. Every node here is the primary of
    // some ranges and a replica of others, and clients keep one role per
    // node (redis-py takes a node listed as a replica anywhere for a
    // replica everywhere, and then skips it for FLUSHALL, DBSIZE, SCAN).
    // CLUSTER SHARDS names the replicas, for READONLY reads.
    std::vector<SlotRange> by_primary;
    for (const auto& r : ranges) {
      if (!by_primary.empty() && by_primary.back().owners[0] == r.owners[0] && by_primary.back().last + 1 == r.first)
        by_primary.back().last = r.last;
      else by_primary.push_back(r);
    }
    w.array(by_primary.size());
    for (const auto& r : by_primary) {
      w.array(3);
      w.integer(r.first);
      w.integer(r.last);
      w.array(4);  // as Redis 7: ip, port, id, then a map of other endpoints (none)
      w.bulk("127.0.0.1");
      w.integer(node_port(r.owners[0]));
      w.bulk(node_name(r.owners[0]));
      w.map(0);
    }
    return;
  }
  if (sub == "shards" && a.size() == 2) {
    // A shard: the slots of one owner list (its primary and replicas).
    std::vector<std::pair<std::vector<int>, std::vector<uint32_t>>> shards;
    for (const auto& r : ranges) {
      auto it = std::find_if(shards.begin(), shards.end(), [&](const auto& s) { return s.first == r.owners; });
      if (it == shards.end()) it = shards.insert(shards.end(), {r.owners, {}});
      it->second.push_back(r.first);
      it->second.push_back(r.last);
    }
    w.array(shards.size());
    for (const auto& [owners, slots] : shards) {
      w.map(2);
      w.bulk("slots");
      w.array(slots.size());
      for (uint32_t s : slots) w.integer(s);
      w.bulk("nodes");
      w.array(owners.size());
      for (size_t k = 0; k < owners.size(); ++k) {
        w.map(7);
        w.bulk("id");
        w.bulk(node_name(owners[k]));
        w.bulk("port");
        w.integer(node_port(owners[k]));
        w.bulk("ip");
        w.bulk("127.0.0.1");
        w.bulk("endpoint");
        w.bulk("127.0.0.1");
        w.bulk("role");
        w.bulk(k == 0 ? "master" : "replica");
        w.bulk("replication-offset");
        w.integer(0);
        w.bulk("health");
        w.bulk(up(owners[k]) ? "online" : "failed");
      }
    }
    return;
  }
  if (sub == "nodes" && a.size() == 2) {
    std::string out;
    for (int n = 0; n < nodes; ++n) {
      const int port = node_port(n);
      out += node_name(n) + " 127.0.0.1:" + std::to_string(port) + "@" + std::to_string(port + 10000) + " " +
             (n == id_ ? "myself,master" : "master") + (up(n) ? "" : ",fail") + " - 0 0 " +
             std::to_string(table_.epoch) + " " + (up(n) ? "connected" : "disconnected");
      // Ranges of adjacent partitions with one primary are merged.
      std::vector<std::pair<uint32_t, uint32_t>> mine;
      for (const auto& r : ranges) {
        if (r.owners[0] != n) continue;
        if (!mine.empty() && mine.back().second + 1 == r.first) mine.back().second = r.last;
        else mine.emplace_back(r.first, r.last);
      }
      for (const auto& r : mine) {
        out += r.first == r.second ? " " + std::to_string(r.first)
                                 : " " + std::to_string(r.first) + "-" + std::to_string(r.second);
      }
      out += "\n";
    }
    return w.verbatim(out);
  }
  if (sub == "info" && a.size() == 2) {
    int with_slots = 0;
    for (int n = 0; n < nodes; ++n)
      with_slots += std::any_of(ranges.begin(), ranges.end(), [&](const SlotRange& r) { return r.owners[0] == n; });
    bool all_up = true;
    uint32_t served = 0;
    for (const auto& r : ranges) {
      all_up &= up(r.owners[0]);
      served += r.last - r.first + 1;
    }
    all_up &= served == 16384;  // no lost partition
    const std::string epoch = std::to_string(table_.epoch);
    return w.verbatim(std::string("cluster_state:") + (all_up ? "ok" : "fail") +
                      "\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:" + std::to_string(served) +
                      "\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:" + std::to_string(16384 - served) +
                      "\r\ncluster_known_nodes:" + std::to_string(nodes) +
                      "\r\ncluster_size:" + std::to_string(with_slots) + "\r\ncluster_current_epoch:" + epoch +
                      "\r\ncluster_my_epoch:" + epoch +
                      "\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n"
                      "total_cluster_links_buffer_limit_exceeded:0\r\n");
  }
  if (sub == "help") {
    w.array(2);
    w.simple("CLUSTER <subcommand>: INFO MYID NODES SLOTS SHARDS KEYSLOT COUNTKEYSINSLOT GETKEYSINSLOT");
    w.simple("HELP");
    return;
  }
  w.error("ERR unknown subcommand '" + std::string(a[1].substr(0, 128)) + "'. Try CLUSTER HELP.");
}

}  // namespace cv::node
