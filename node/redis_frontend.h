// RedisFrontend: a serving node's Redis Cluster endpoint. It listens on
// 127.0.0.1:PORT and on <data_dir>/node<ID>.sock (mode 0600) and runs two
// threads of its own: a network thread (Boost.Asio) that serves every
// connection and turns their pipelined commands into record batches, and a
// pump thread that waits on the front end's mailbox for the node's answers.
// The batches travel the same message path as every other client's
// (kWrite / kGet to the node's mailbox), so the request loop stays the one
// writer of the store and replication, versions, backup and restore see one
// kind of write. Reads (GET, MGET, EXISTS, ... and DBSIZE, KEYS, SCAN) take
// the store's shard locks directly, as RecordStore allows any thread to,
// unless the connection still waits for an earlier command of its own:
// then they queue behind it on the node's mailbox, keeping its order.
#pragma once

#include <memory>

#include "node/record_store.h"
#include "shm/block.h"
#include "shm/status.h"

namespace cv::node {

class RedisService;

class RedisFrontend {
 public:
  // Binds both endpoints (port: the cluster's base + id, or a free one if
  // the base is 0), publishes the port in the node's slot and starts the
  // threads. An endpoint that cannot be bound is an error naming it.
  static Status start(shm::Block& block, int id, const RecordStore& store, std::unique_ptr<RedisFrontend>* out);
  // Stops the threads, closes every connection, removes the socket file.
  ~RedisFrontend();
  RedisFrontend(const RedisFrontend&) = delete;
  RedisFrontend& operator=(const RedisFrontend&) = delete;

 private:
  RedisFrontend() = default;
  std::unique_ptr<RedisService> service_;
};

}  // namespace cv::node
