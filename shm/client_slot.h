// Client slots: a command that talks to a cluster claims one of the block's
// client mailboxes for its lifetime. A slot whose pid is gone is reclaimed.
#pragma once

#include <cstdint>

#include "shm/block.h"
#include "shm/mailbox.h"

namespace cv::shm {

class ClientSlotLease {
 public:
  // Claims a free (or abandoned) slot and opens its mailbox for this pid.
  static Status claim(Block& block, std::unique_ptr<ClientSlotLease>* out);
  ~ClientSlotLease();
  ClientSlotLease(const ClientSlotLease&) = delete;
  ClientSlotLease& operator=(const ClientSlotLease&) = delete;

  int mailbox_index() const { return kFirstClientMailbox + slot_; }
  uint32_t generation() const { return generation_; }
  Mailbox inbox() { return Mailbox(&block_.layout().mailboxes[mailbox_index()], block_.ring(mailbox_index())); }

 private:
  ClientSlotLease(Block& block, int slot, uint32_t gen) : block_(block), slot_(slot), generation_(gen) {}
  Block& block_;
  int slot_;
  uint32_t generation_;
};

}  // namespace cv::shm
