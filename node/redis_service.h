// The Redis front end's insides (see redis_frontend.h): connections, the
// command dispatch and the channel that carries record batches to the
// node's request loop and brings the answers back. Everything here runs on
// the front end's network thread, except RedisService::pump_replies.
#pragma once

#include <atomic>
#include <utility>  // before Asio: its awaitable.hpp uses std::exchange
#include <boost/asio.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "node/record_store.h"
#include "resp/command_table.h"
#include "resp/reply_writer.h"
#include "resp/request_parser.h"
#include "shm/block.h"
#include "shm/expiry.h"
#include "shm/mailbox.h"
#include "shm/messages.h"
#include "shm/table_access.h"

namespace cv::node {

namespace asio = boost::asio;
using RedisSocket = asio::generic::stream_protocol::socket;

class RedisService;

// Where one command's reply goes once it is known; replies leave a
// connection in the order its commands came.
struct ReplySlot {
  bool done = false;
  std::string bytes;
};

class Connection;

// A command waiting for the node: one part per record it sent.
struct DeferredOp {
  struct Part {
    shm::RecStatus status = shm::RecStatus::kTimeout;
    bool found = false;   // get: a live record
    std::string value;    // get: the value; values reply: the answer
    uint64_t expire_ms = 0;  // get: the record's expiry (0: none)
  };
  std::shared_ptr<Connection> conn;
  std::shared_ptr<ReplySlot> slot;
  resp::Cmd cmd = resp::Cmd::kPing;
  int protocol = 2;
  uint32_t key_slot = 0;  // every key of a command is in one slot
  uint32_t flags = 0;     // command-specific (e.g. SET ... GET)
  int64_t range_start = 0, range_end = 0;  // GETRANGE's start and end
  uint32_t key_bytes = 0;  // MEMORY USAGE: its key's length
  uint32_t outstanding = 0;
  std::vector<Part> parts;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(RedisSocket socket, RedisService& service, uint64_t id, std::string peer);
  void start();
  // Writes after every reply already promised.
  resp::ReplyWriter reply();
  // Promises a reply to be filled in later (then call flush()).
  std::shared_ptr<ReplySlot> defer();
  // Sends the finished replies at the front, in order.
  void flush();
  // Closes once every promised reply is sent (QUIT, protocol errors).
  void close_after_replies() { closing_ = true; }
  // True if some reply of this connection is still owed.
  bool has_waiting() const { return !waiting_.empty(); }
  void close();

  const uint64_t id;
  const std::string peer;
  const uint64_t created_ns;
  std::string name;
  std::string last_command;
  int protocol = 2;
  bool authenticated = false;
  bool readonly = false;  // READONLY: replicas may serve this connection's reads

 private:
  void read_more();
  void process_input();
  void write_more();
  bool can_read() const;

  RedisSocket socket_;
  RedisService& service_;
  resp::RequestParser parser_;
  std::vector<std::string_view> args_;
  std::string in_;         // bytes received and not yet parsed past
  size_t in_used_ = 0;     // bytes of in_ already parsed
  std::vector<char> read_buf_;  // the socket's read target
  std::deque<std::shared_ptr<ReplySlot>> waiting_;
  std::string out_;        // ready to send
  std::string sending_;    // handed to the socket
  bool reading_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

class RedisService {
 public:
  RedisService(shm::Block& block, int id, const RecordStore& store);
  ~RedisService();
  Status bind_endpoints();
  void start_threads();
  void stop();

  // Runs one parsed command (args[0] is the name); args are views into
  // the connection's input, valid only during the call.
  void dispatch(Connection& c, const std::vector<std::string_view>& args);
  void connection_closed(Connection& c);
  asio::io_context& io() { return io_; }
  const resp::ParserLimits& parser_limits() const { return limits_; }

 private:
  friend class Connection;
  // --- node channel (redis_service.cc) ---
  struct Target {
    std::shared_ptr<DeferredOp> op;
    uint32_t part;
  };
  struct Outgoing {
    shm::MsgType type;
    bool values;
    shm::BatchBuilder batch;
    std::vector<Target> targets;
  };
  struct Inflight {
    shm::MsgType type;
    std::vector<Target> targets;
    uint64_t sent_ns;
    // A request that is not a record batch (kBackupRequest): its answer's
    // payload, or nullptr on timeout.
    std::function<void(const std::string* payload)> on_answer;
    std::vector<bool> answered;  // per target, across the parts of a reply
  };
  void queue_get(const std::shared_ptr<DeferredOp>& op, uint32_t part, std::string_view key);
  void queue_write(const std::shared_ptr<DeferredOp>& op, uint32_t part, shm::RecOp rec_op, uint32_t aux,
                   std::string_view key, std::string_view value, uint64_t expire_ms = 0);
  Outgoing& outgoing_for(shm::MsgType type, bool values, size_t bytes);
  void flush_outgoing();
  void pump_replies();
  void on_node_reply(uint16_t type, uint64_t request_id, const std::string& payload);
  void fail_targets(std::vector<Target>& targets, shm::RecStatus why);
  void part_done(const std::shared_ptr<DeferredOp>& op);
  void sweep_inflight();
  void accept_tcp();
  void accept_unix();

  // --- commands (redis_commands.cc: keys and strings) ---
  std::shared_ptr<DeferredOp> make_op(Connection& c, resp::Cmd cmd, uint32_t slot, size_t parts);
  void cmd_set(Connection& c, const std::vector<std::string_view>& a, uint32_t slot);
  // SETEX, PSETEX, GETEX, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, PERSIST.
  void cmd_expiry(Connection& c, const resp::CommandSpec& spec, const std::vector<std::string_view>& a, uint32_t slot);
  void cmd_data(Connection& c, const resp::CommandSpec& spec, const std::vector<std::string_view>& a, uint32_t slot);
  // OBJECT ENCODING / REFCOUNT / HELP, MEMORY USAGE / HELP.
  void cmd_introspect(Connection& c, const resp::CommandSpec& spec, const std::vector<std::string_view>& a,
                      uint32_t slot);
  void finish_op(DeferredOp& op, resp::ReplyWriter& w);
  // Answers an op whose every part was settled without the node (keys no
  // record can have).
  void finish_if_nothing_queued(DeferredOp& op);
  // Reads keys straight from the store (under its shard locks) and answers
  // at once; only for a connection that owes no reply, so that no earlier
  // write of its own is still on its way to the node.
  // The keys are a[first] up to a[end] (exclusive; 0: to the last); `like`
  // gives the command's parameters (GETRANGE's range).
  bool read_direct(Connection& c, resp::Cmd cmd, const std::vector<std::string_view>& a, size_t first,
                   size_t end = 0, const DeferredOp* like = nullptr);
  // The read of the one key a[key] with the parameters in `like` (range,
  // flags): direct if it can be, else queued behind the connection's
  // earlier commands.
  void read_one_key(Connection& c, resp::Cmd cmd, const std::vector<std::string_view>& a, size_t key, uint32_t slot,
                    const DeferredOp& like);
  // Checks the keys' slot and this node's role for it; false if it
  // answered (-CROSSSLOT, -MOVED, -CLUSTERDOWN) instead.
  bool route(Connection& c, const resp::CommandSpec& spec, const std::vector<std::string_view>& a, uint32_t* slot);
  void moved(resp::ReplyWriter& w, uint32_t slot);

  // --- connection and server commands (redis_admin.cc) ---
  void cmd_hello(Connection& c, const std::vector<std::string_view>& a);
  void cmd_auth(Connection& c, const std::vector<std::string_view>& a);
  void cmd_client(Connection& c, const std::vector<std::string_view>& a);
  void cmd_command(Connection& c, const std::vector<std::string_view>& a);
  void cmd_info(Connection& c, const std::vector<std::string_view>& a);
  void cmd_config(Connection& c, const std::vector<std::string_view>& a);
  void cmd_scan(Connection& c, const std::vector<std::string_view>& a);
  void cmd_keys(Connection& c, const std::vector<std::string_view>& a);
  void cmd_flush(Connection& c, const std::vector<std::string_view>& a);
  void cmd_bgsave(Connection& c, const std::vector<std::string_view>& a, bool wait);
  // SAVE: polls the schedule until it completes or fails, then answers.
  void wait_for_backup(uint64_t schedule_id, std::shared_ptr<Connection> c, std::shared_ptr<ReplySlot> slot,
                       uint64_t deadline_ns);
  void cmd_lastsave(Connection& c);
  std::string client_info(const Connection& c) const;
  std::string info_text(std::string_view section);
  // --- CLUSTER (redis_cluster_info.cc) ---
  void cmd_cluster(Connection& c, const std::vector<std::string_view>& a);
  std::string node_name(int node) const;
  int node_port(int node) const;
  bool primary_here(uint32_t partition) const;
  // The live keys of the partitions this node is primary for. *expires (if
  // given) gets how many of them carry an expiry, *avg_ttl_ms the mean time
  // those have left (INFO keyspace's avg_ttl; Redis estimates it by sampling).
  uint64_t count_primary_keys(uint64_t* expires = nullptr, uint64_t* avg_ttl_ms = nullptr);

  shm::Block& block_;
  shm::BlockLayout& b_;
  const int id_;
  const RecordStore& store_;
  const resp::ParserLimits limits_;
  const uint64_t started_ns_;
  shm::TableCopy table_;
  shm::Mailbox node_inbox_;
  shm::Mailbox my_inbox_;
  const int my_mailbox_;
  uint32_t my_generation_ = 0;
  asio::io_context io_;
  asio::ip::tcp::acceptor tcp_acceptor_;
  asio::local::stream_protocol::acceptor unix_acceptor_;
  asio::steady_timer sweep_timer_;
  std::string socket_path_;
  std::thread net_thread_;
  std::thread pump_thread_;
  std::atomic<bool> stopping_{false};
  std::vector<Outgoing> outgoing_;
  bool flush_posted_ = false;
  std::unordered_map<uint64_t, Inflight> inflight_;
  uint64_t next_request_ = 1;
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> connections_;
  uint64_t next_client_id_ = 1;
  uint64_t total_connections_ = 0;
  uint64_t total_commands_ = 0;
  uint64_t keyspace_hits_ = 0;
  uint64_t keyspace_misses_ = 0;
  uint64_t last_bgsave_id_ = 0;
};

}  // namespace cv::node
