// PeerLink: sending a message from this process to any mailbox of the block,
// with the sender's identity filled in. Shared by nodes, targets and clients.
#pragma once

#include <string_view>

#include "shm/block.h"
#include "shm/mailbox.h"
#include "shm/messages.h"

namespace cv::shm {

class PeerLink {
 public:
  PeerLink(Block& block, int self_mailbox, uint32_t self_generation)
      : block_(block), self_(self_mailbox), gen_(self_generation) {}

  Status send(int to, MsgType type, uint64_t request_id, std::string_view payload, uint64_t timeout_ms) {
    return mailbox(to).send(uint16_t(type), uint16_t(self_), gen_, request_id, payload,
                            Deadline::in_ms(timeout_ms));
  }
  // Answers a request: to its sender, with its id, echoing the sender's
  // generation. A mailbox that has changed hands since the request was sent
  // gets nothing (kPeerDown): the reply was meant for its previous owner.
  Status reply(const MsgHeader& request, MsgType type, std::string_view payload, uint64_t timeout_ms) {
    return reply_to(request.from, request.from_generation, request.request_id, type, payload, timeout_ms);
  }
  Status reply_to(int to, uint32_t to_generation, uint64_t request_id, MsgType type, std::string_view payload,
                  uint64_t timeout_ms) {
    if (to < 0 || to >= kMailboxCount) return Status::invalid("no mailbox " + std::to_string(to) + " to answer");
    Mailbox box = mailbox(to);
    if (box.generation() != to_generation)
      return Status::peer_down("mailbox " + std::to_string(to) + " has a new owner since the request");
    return box.send(uint16_t(type), uint16_t(self_), gen_, request_id, payload, Deadline::in_ms(timeout_ms),
                    to_generation);
  }
  Mailbox mailbox(int index) { return block_.mailbox(index); }
  int self() const { return self_; }
  uint32_t generation() const { return gen_; }
  void set_generation(uint32_t g) { gen_ = g; }

 private:
  Block& block_;
  int self_;
  uint32_t gen_;
};

}  // namespace cv::shm
