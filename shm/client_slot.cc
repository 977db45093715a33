// Claiming and releasing client mailbox slots under the block lock.
#include "shm/client_slot.h"

#include <unistd.h>

#include "shm/clock.h"
#include "shm/table_access.h"

namespace cv::shm {

Status ClientSlotLease::claim(Block& block, std::unique_ptr<ClientSlotLease>* out) {
  BlockLayout& b = block.layout();
  const int me = getpid();
  int slot = -1;
  {
    BlockLock g(b);
    if (!g.locked()) return Status::timeout("timed out waiting for the cluster's block lock");
    for (int i = 0; i < kMaxClients; ++i) {
      int pid = b.clients[i].pid.load();
      if (pid == 0 || !pid_alive(pid)) {
        slot = i;
        b.clients[i].pid.store(me);
        b.clients[i].claimed_ns = wall_ns();
        break;
      }
    }
  }
  if (slot < 0)
    return Status::busy("all " + std::to_string(kMaxClients) + " client slots of cluster '" + block.cluster() +
                        "' are in use");
  const int mb = kFirstClientMailbox + slot;
  Mailbox inbox(&b.mailboxes[mb], block.ring(mb));
  inbox.open_for(me);  // a new generation: replies to the previous owner are dropped
  const uint32_t gen = inbox.generation();
  b.clients[slot].generation.store(gen);
  out->reset(new ClientSlotLease(block, slot, gen));
  return Status::ok();
}

ClientSlotLease::~ClientSlotLease() {
  BlockLayout& b = block_.layout();
  b.mailboxes[mailbox_index()].consumer_pid.store(0);
  b.clients[slot_].pid.store(0);
}

}  // namespace cv::shm
