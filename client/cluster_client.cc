// ClusterClient: attach, slot lease, send and receive.
#include "client/cluster_client.h"

#include "shm/clock.h"

namespace cv::client {

Status ClusterClient::connect(const std::string& cluster, std::unique_ptr<ClusterClient>* out) {
  if (Status s = shm::validate_cluster_name(cluster); !s) return s;
  std::unique_ptr<ClusterClient> c(new ClusterClient());
  if (Status s = shm::Block::attach(cluster, &c->block_); !s) return s;
  if (Status s = shm::ClientSlotLease::claim(*c->block_, &c->lease_); !s) return s;
  c->link_ = std::make_unique<shm::PeerLink>(*c->block_, c->lease_->mailbox_index(), c->lease_->generation());
  // Distinct from every id an earlier owner of the slot used, so that even a
  // node that does not echo generations cannot hand us its answer.
  c->next_request_ = (uint64_t(c->lease_->generation()) << 32) | 1;
  c->refresh_table();
  *out = std::move(c);
  return Status::ok();
}

bool ClusterClient::node_up(int node) const {
  if (node < 0 || node >= int(block_->layout().config.serving_nodes)) return false;
  return shm::node_state_live(shm::NodeState(block_->layout().nodes[node].state.load()));
}

bool ClusterClient::cluster_alive() {
  const uint64_t now = mono_ns();
  if (alive_ && now - alive_checked_ns_ > 100'000'000ull) {
    alive_checked_ns_ = now;
    alive_ = shm::pid_alive(block_->layout().header.launcher_pid) && !block_->layout().header.shutting_down.load();
  }
  return alive_;
}

int ClusterClient::live_node(int preferred) const {
  const int n = int(block_->layout().config.serving_nodes);
  for (int i = 0; i < n; ++i) {
    int id = (preferred + i) % n;
    if (node_up(id)) return id;
  }
  return -1;
}

Status ClusterClient::send(int node, shm::MsgType type, std::string_view payload, uint64_t* request_id,
                           uint64_t timeout_ms) {
  if (!node_up(node)) return Status::peer_down("node" + std::to_string(node) + " is down");
  *request_id = next_request_++;
  Status s = link_->send(node, type, *request_id, payload, timeout_ms);
  if (!s) return Status(s.code(), "node" + std::to_string(node) + ": " + s.message());
  return s;
}

size_t ClusterClient::poll(const std::function<void(const shm::MsgHeader&, std::string_view)>& fn,
                           uint64_t wait_ns) {
  shm::Mailbox inbox = lease_->inbox();
  const uint32_t mine = lease_->generation();
  auto for_me = [&](const shm::MsgHeader& h, std::string_view p) {
    if (h.to_generation != mine) return;  // meant for an earlier owner of this slot
    fn(h, p);
  };
  size_t n = inbox.drain(for_me);
  if (n == 0 && wait_ns > 0) {
    inbox.wait(wait_ns);
    n = inbox.drain(for_me);
  }
  return n;
}

Status ClusterClient::call(int node, shm::MsgType type, std::string_view payload, std::string* reply,
                           uint64_t timeout_ms) {
  uint64_t id = 0;
  if (Status s = send(node, type, payload, &id, timeout_ms); !s) return s;
  Deadline d = Deadline::in_ms(timeout_ms);
  bool got = false;
  while (!got) {
    poll(
        [&](const shm::MsgHeader& h, std::string_view p) {
          if (h.request_id == id && h.from == node) {
            reply->assign(p);
            got = true;
          }
        },
        20'000'000);
    if (got) break;
    if (!node_up(node)) return Status::peer_down("node" + std::to_string(node) + " went down before answering");
    if (!cluster_alive()) return Status::peer_down("cluster '" + block_->cluster() + "' stopped");
    if (d.passed())
      return Status::timeout("node" + std::to_string(node) + " did not answer within " +
                             std::to_string(timeout_ms) + " ms");
  }
  return Status::ok();
}

}  // namespace cv::client
