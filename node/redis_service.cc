// The Redis front end's network side: endpoints, connections (read, parse,
// ordered replies, back-pressure) and the channel of record batches to the
// node's request loop.
#include "node/redis_service.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "node/redis_frontend.h"
#include "shm/clock.h"

namespace cv::node {
namespace {

// A connection stops reading while this many replies are owed or this many
// bytes wait to be sent, so a client that never reads cannot grow us.
constexpr size_t kMaxWaitingReplies = 16384;
constexpr size_t kMaxOutBytes = 64ull << 20;
constexpr size_t kReadChunk = 64 * 1024;
// Record batches to the node are cut here (the node's own batches are too).
constexpr size_t kMaxBatchRecords = 4096;
constexpr uint64_t kNodeSendTimeoutMs = 2000;
// The node answers a write within its replica timeout (2 s); past this a
// batch is taken as lost.
constexpr uint64_t kInflightTimeoutMs = 10000;

}  // namespace

// ---------------------------------------------------------------- Connection

Connection::Connection(RedisSocket socket, RedisService& service, uint64_t id_, std::string peer_)
    : id(id_), peer(std::move(peer_)), created_ns(wall_ns()), socket_(std::move(socket)), service_(service),
      parser_(service.parser_limits()) {}

void Connection::start() { read_more(); }

bool Connection::can_read() const {
  return !closed_ && !closing_ && !reading_ && waiting_.size() < kMaxWaitingReplies && out_.size() < kMaxOutBytes;
}

void Connection::read_more() {
  if (!can_read()) return;
  // Drop what is parsed before growing the buffer.
  if (in_used_ > 0) {
    in_.erase(0, in_used_);
    in_used_ = 0;
  }
  // The socket reads into a buffer of its own: in_ holds only bytes that
  // arrived, and may be parsed (a posted process_input) while a read is out.
  size_t want = kReadChunk;
  if (parser_.wanted() > in_.size()) want = std::max(want, parser_.wanted() - in_.size());
  read_buf_.resize(want);
  reading_ = true;
  auto self = shared_from_this();
  socket_.async_read_some(asio::buffer(read_buf_.data(), want), [this, self](boost::system::error_code ec, size_t n) {
    reading_ = false;
    if (ec) {
      close();
      return;
    }
    in_.append(read_buf_.data(), n);
    process_input();
    read_more();
  });
}

void Connection::process_input() {
  while (!closing_ && !closed_ && in_used_ < in_.size()) {
    size_t used = 0;
    std::string_view rest(in_.data() + in_used_, in_.size() - in_used_);
    const resp::ParseResult r = parser_.parse(rest, &used, &args_);
    if (r == resp::ParseResult::kPending) break;
    if (r == resp::ParseResult::kEmpty) {
      in_used_ += used;
      continue;
    }
    if (r != resp::ParseResult::kOk) {
      // As Redis: the error, then the connection closes.
      reply().error(parser_.error_text(r, rest));
      close_after_replies();
      in_used_ = in_.size();
      break;
    }
    service_.dispatch(*this, args_);
    in_used_ += used;
    if (waiting_.size() >= kMaxWaitingReplies) break;
  }
  flush();
}

resp::ReplyWriter Connection::reply() {
  if (waiting_.empty()) return resp::ReplyWriter(&out_, protocol);
  auto slot = std::make_shared<ReplySlot>();
  slot->done = true;
  waiting_.push_back(slot);
  return resp::ReplyWriter(&slot->bytes, protocol);
}

std::shared_ptr<ReplySlot> Connection::defer() {
  auto slot = std::make_shared<ReplySlot>();
  waiting_.push_back(slot);
  return slot;
}

void Connection::flush() {
  while (!waiting_.empty() && waiting_.front()->done) {
    out_.append(waiting_.front()->bytes);
    waiting_.pop_front();
  }
  write_more();
  // Input left unparsed while too many replies were owed.
  if (!reading_ && !closed_ && in_used_ < in_.size() && waiting_.size() < kMaxWaitingReplies) {
    auto self = shared_from_this();
    asio::post(service_.io(), [this, self] {
      process_input();
      read_more();
    });
  } else {
    read_more();
  }
}

void Connection::write_more() {
  if (writing_ || closed_) return;
  if (out_.empty()) {
    if (closing_ && waiting_.empty()) close();
    return;
  }
  sending_.swap(out_);
  out_.clear();
  writing_ = true;
  auto self = shared_from_this();
  asio::async_write(socket_, asio::buffer(sending_), [this, self](boost::system::error_code ec, size_t) {
    writing_ = false;
    sending_.clear();
    if (ec) {
      close();
      return;
    }
    write_more();
    read_more();
  });
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.close(ec);
  service_.connection_closed(*this);
}

// ---------------------------------------------------------------- service

RedisService::RedisService(shm::Block& block, int id, const RecordStore& store)
    : block_(block),
      b_(block.layout()),
      id_(id),
      store_(store),
      limits_([] {
        resp::ParserLimits l;
        l.max_bulk_len = shm::kMaxValueBytes;
        l.max_request_bytes = 256ull << 20;
        return l;
      }()),
      started_ns_(mono_ns()),
      node_inbox_(block.mailbox(id)),
      my_inbox_(&block.layout().mailboxes[shm::kFirstFrontendMailbox + id], block.ring(shm::kFirstFrontendMailbox + id)),
      my_mailbox_(shm::kFirstFrontendMailbox + id),
      tcp_acceptor_(io_),
      unix_acceptor_(io_),
      sweep_timer_(io_) {}

RedisService::~RedisService() { stop(); }

Status RedisService::bind_endpoints() {
  // Thousands of connections need thousands of descriptors.
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  const uint32_t base = b_.config.redis_port_base;
  const uint32_t port = base == 0 ? 0 : base + uint32_t(id_);
  boost::system::error_code ec;
  asio::ip::tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), uint16_t(port));
  tcp_acceptor_.open(ep.protocol(), ec);
  if (!ec) tcp_acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) tcp_acceptor_.bind(ep, ec);
  if (!ec) tcp_acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::io_error("listen on 127.0.0.1:" + std::to_string(port) + ": " + ec.message());
  const uint16_t bound = tcp_acceptor_.local_endpoint(ec).port();
  socket_path_ = std::string(b_.config.data_dir) + "/node" + std::to_string(id_) + ".sock";
  ::unlink(socket_path_.c_str());  // a socket file left by a killed node
  // Created 0600: umask while binding, since bind creates the file.
  const mode_t old = ::umask(0177);
  unix_acceptor_.open(asio::local::stream_protocol(), ec);
  if (!ec) unix_acceptor_.bind(asio::local::stream_protocol::endpoint(socket_path_), ec);
  ::umask(old);
  if (!ec) unix_acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::io_error("listen on " + socket_path_ + ": " + ec.message());
  b_.nodes[id_].redis_port.store(bound);
  my_inbox_.open_for(getpid());
  my_generation_ = b_.mailboxes[my_mailbox_].generation.load();
  shm::refresh_table(b_, &table_);
  spdlog::info("node {}: Redis endpoints 127.0.0.1:{} and {}", id_, bound, socket_path_);
  return Status::ok();
}

void RedisService::start_threads() {
  accept_tcp();
  accept_unix();
  sweep_inflight();
  net_thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      spdlog::error("node {}: Redis network thread stopped: {}", id_, e.what());
    }
  });
  pump_thread_ = std::thread([this] { pump_replies(); });
}

void RedisService::stop() {
  if (stopping_.exchange(true)) return;
  io_.stop();
  if (net_thread_.joinable()) net_thread_.join();
  if (pump_thread_.joinable()) pump_thread_.join();
  if (!socket_path_.empty()) ::unlink(socket_path_.c_str());
}

void RedisService::accept_tcp() {
  tcp_acceptor_.async_accept([this](boost::system::error_code ec, asio::ip::tcp::socket s) {
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      spdlog::warn("node {}: accept on the Redis port: {}", id_, ec.message());
    } else {
      boost::system::error_code e2;
      s.set_option(asio::ip::tcp::no_delay(true), e2);
      auto remote = s.remote_endpoint(e2);
      std::string peer = remote.address().to_string() + ":" + std::to_string(remote.port());
      RedisSocket g(io_, asio::generic::stream_protocol(s.local_endpoint(e2).protocol()), s.release(e2));
      auto c = std::make_shared<Connection>(std::move(g), *this, next_client_id_++, peer);
      connections_[c->id] = c;
      ++total_connections_;
      c->authenticated = b_.config.requirepass[0] == 0;
      c->start();
    }
    accept_tcp();
  });
}

void RedisService::accept_unix() {
  unix_acceptor_.async_accept([this](boost::system::error_code ec, asio::local::stream_protocol::socket s) {
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      spdlog::warn("node {}: accept on {}: {}", id_, socket_path_, ec.message());
    } else {
      boost::system::error_code e2;
      RedisSocket g(io_, asio::generic::stream_protocol(AF_UNIX, 0), s.release(e2));
      auto c = std::make_shared<Connection>(std::move(g), *this, next_client_id_++, socket_path_ + ":0");
      connections_[c->id] = c;
      ++total_connections_;
      c->authenticated = b_.config.requirepass[0] == 0;
      c->start();
    }
    accept_unix();
  });
}

void RedisService::connection_closed(Connection& c) { connections_.erase(c.id); }

// ---------------------------------------------------------------- node channel

RedisService::Outgoing& RedisService::outgoing_for(shm::MsgType type, bool values, size_t bytes) {
  if (outgoing_.empty() || outgoing_.back().type != type || outgoing_.back().values != values ||
      outgoing_.back().targets.size() >= kMaxBatchRecords ||
      (outgoing_.back().batch.bytes() + bytes > shm::kBatchTargetBytes && !outgoing_.back().targets.empty())) {
    Outgoing o{type, values, shm::BatchBuilder(), {}};
    if (values) o.batch.set_flags(shm::kBatchWantValues);
    outgoing_.push_back(std::move(o));
  }
  if (!flush_posted_) {
    flush_posted_ = true;
    // After the handlers already queued (other connections' input), so
    // that their commands share the batches.
    asio::post(io_, [this] { flush_outgoing(); });
  }
  return outgoing_.back();
}

void RedisService::queue_get(const std::shared_ptr<DeferredOp>& op, uint32_t part, std::string_view key) {
  Outgoing& o = outgoing_for(shm::MsgType::kGet, false, key.size() + sizeof(shm::WireRecord));
  shm::WireRecord r{};
  r.key_len = uint16_t(key.size());
  r.index = uint32_t(o.targets.size());
  o.batch.add(r, key, {});
  o.targets.push_back({op, part});
  ++op->outstanding;
}

void RedisService::queue_write(const std::shared_ptr<DeferredOp>& op, uint32_t part, shm::RecOp rec_op, uint32_t aux,
                               std::string_view key, std::string_view value, uint64_t expire_ms) {
  const bool values = rec_op != shm::RecOp::kPut && rec_op != shm::RecOp::kDelete;
  Outgoing& o = outgoing_for(shm::MsgType::kWrite, values, key.size() + value.size() + sizeof(shm::WireRecord));
  shm::WireRecord r{};
  r.key_len = uint16_t(key.size());
  r.op = uint8_t(rec_op);
  r.value_len = uint32_t(value.size());
  r.index = uint32_t(o.targets.size());
  r.aux = aux;
  r.expire_ms = expire_ms;
  o.batch.add(r, key, value);
  o.targets.push_back({op, part});
  ++op->outstanding;
}

void RedisService::flush_outgoing() {
  flush_posted_ = false;
  std::vector<Outgoing> batches;
  batches.swap(outgoing_);
  for (auto& o : batches) {
    const uint64_t id = next_request_++;
    o.batch.set_epoch(table_.epoch);
    Status s = node_inbox_.send(uint16_t(o.type), uint16_t(my_mailbox_), my_generation_, id, o.batch.finish(),
                                Deadline::in_ms(kNodeSendTimeoutMs));
    if (!s) {
      spdlog::warn("node {}: Redis front end could not hand {} records to the node: {}", id_, o.targets.size(),
                   s.message());
      fail_targets(o.targets, s.code() == Code::kTimeout ? shm::RecStatus::kTimeout : shm::RecStatus::kNodeDown);
      continue;
    }
    inflight_.emplace(id, Inflight{o.type, std::move(o.targets), mono_ns(), nullptr, {}});
  }
}

void RedisService::pump_replies() {
  struct Msg {
    uint16_t type;
    uint64_t id;
    std::string payload;
  };
  while (!stopping_.load()) {
    std::vector<Msg> got;
    my_inbox_.drain([&](const shm::MsgHeader& h, std::string_view p) {
      if (h.from == uint16_t(id_)) got.push_back({h.type, h.request_id, std::string(p)});
    });
    if (got.empty()) {
      my_inbox_.wait(50'000'000ull);
      continue;
    }
    asio::post(io_, [this, got = std::move(got)] {
      for (const auto& m : got) on_node_reply(m.type, m.id, m.payload);
    });
  }
}

void RedisService::on_node_reply(uint16_t type, uint64_t request_id, const std::string& payload) {
  auto it = inflight_.find(request_id);
  if (it == inflight_.end()) return;  // timed out already
  shm::BatchReader rd(payload);
  // A get reply in parts: all but the last say more follow.
  const bool more = shm::MsgType(type) == shm::MsgType::kGetReply && rd.ok() && rd.header().tag == shm::kGetReplyMore;
  Inflight& f = it->second;
  if (f.on_answer) {
    auto fn = std::move(f.on_answer);
    inflight_.erase(it);
    return fn(&payload);
  }
  std::vector<bool>& answered = f.answered;
  answered.resize(f.targets.size(), false);
  auto part_of = [&](uint32_t index) -> DeferredOp::Part* {
    if (index >= f.targets.size() || answered[index]) return nullptr;
    answered[index] = true;
    return &f.targets[index].op->parts[f.targets[index].part];
  };
  switch (shm::MsgType(type)) {
    case shm::MsgType::kGetReply: {
      shm::WireRecord r;
      std::string_view key, value;
      while (rd.next(&r, &key, &value)) {
        DeferredOp::Part* p = part_of(r.index);
        if (!p) continue;
        p->status = shm::RecStatus(r.status);
        p->found = p->status == shm::RecStatus::kOk && r.op != uint8_t(shm::RecOp::kDelete);
        if (p->found) p->value.assign(value);
        p->expire_ms = p->found ? r.expire_ms : 0;
        if (p->status == shm::RecStatus::kNotFound) p->status = shm::RecStatus::kOk;
      }
      break;
    }
    case shm::MsgType::kWriteReply: {
      shm::WireResult r;
      while (rd.next_result(&r)) {
        DeferredOp::Part* p = part_of(r.index);
        if (p) p->status = shm::RecStatus(r.status);
      }
      break;
    }
    case shm::MsgType::kWriteValuesReply: {
      shm::WireRecord r;
      std::string_view key, value;
      while (rd.next(&r, &key, &value)) {
        DeferredOp::Part* p = part_of(r.index);
        if (!p) continue;
        p->status = shm::RecStatus(r.status);
        p->found = p->status == shm::RecStatus::kOk;
        p->value.assign(value);
      }
      break;
    }
    default:
      spdlog::warn("node {}: Redis front end got message type {} it did not ask for", id_, type);
      break;
  }
  if (more) return;
  Inflight done = std::move(f);
  inflight_.erase(it);
  for (size_t i = 0; i < done.targets.size(); ++i) {
    if (!done.answered[i]) done.targets[i].op->parts[done.targets[i].part].status = shm::RecStatus::kTimeout;
    part_done(done.targets[i].op);
  }
}

void RedisService::fail_targets(std::vector<Target>& targets, shm::RecStatus why) {
  for (auto& t : targets) {
    t.op->parts[t.part].status = why;
    part_done(t.op);
  }
}

void RedisService::part_done(const std::shared_ptr<DeferredOp>& op) {
  if (--op->outstanding > 0) return;
  resp::ReplyWriter w(&op->slot->bytes, op->protocol);
  finish_op(*op, w);
  op->slot->done = true;
  op->conn->flush();
}

void RedisService::sweep_inflight() {
  const uint64_t now = mono_ns();
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    if (now - it->second.sent_ns < kInflightTimeoutMs * 1'000'000ull) {
      ++it;
      continue;
    }
    spdlog::warn("node {}: Redis front end: no answer from the node for {} records in {} ms", id_,
                 it->second.targets.size(), kInflightTimeoutMs);
    std::vector<Target> t = std::move(it->second.targets);
    auto on_answer = std::move(it->second.on_answer);
    it = inflight_.erase(it);
    if (on_answer) on_answer(nullptr);
    fail_targets(t, shm::RecStatus::kTimeout);
  }
  sweep_timer_.expires_after(std::chrono::milliseconds(500));
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) sweep_inflight();
  });
}

// ---------------------------------------------------------------- frontend

Status RedisFrontend::start(shm::Block& block, int id, const RecordStore& store,
                            std::unique_ptr<RedisFrontend>* out) {
  std::unique_ptr<RedisFrontend> f(new RedisFrontend());
  f->service_ = std::make_unique<RedisService>(block, id, store);
  if (Status s = f->service_->bind_endpoints(); !s) return s;
  f->service_->start_threads();
  *out = std::move(f);
  return Status::ok();
}

RedisFrontend::~RedisFrontend() {
  if (service_) service_->stop();
}

}  // namespace cv::node
