// Redis test support: programs, a real redis-server, raw RESP connections.
#include "tests/support/redis_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <thread>

#include "launcher/subprocess.h"

namespace cv::test {

namespace {

std::string which(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    const std::string p = std::string(dir) + "/" + program;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return program;
}

}  // namespace

CliResult run_program(const std::string& program, const std::vector<std::string>& args, int timeout_s) {
  TempDir io;
  const std::string out = io / "out", err = io / "err";
  const int pid = launcher::spawn_program(which(program), args, {}, out, err);
  CliResult r;
  r.rc = wait_cli(pid, timeout_s);
  r.out = launcher::read_whole_file(out);
  r.err = launcher::read_whole_file(err);
  return r;
}

int redis_port(TestCluster& c, int id) {
  const auto st = c.status();
  for (const auto& n : st["nodes"])
    if (n["role"] == "serving" && n["id"] == id) return n["port"].get<int>();
  return -1;
}

RealRedis::RealRedis() {
  const std::string sock = dir_ / "redis.sock";
  pid_ = launcher::spawn_program(which("redis-server"),
                                 {"--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir",
                                  dir_.path(), "--daemonize", "no"},
                                 {}, dir_ / "out", dir_ / "err");
  for (int i = 0; i < 500; ++i) {
    if (RespConn::unix_socket(sock).ok()) {
      socket_ = sock;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

RealRedis::~RealRedis() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    wait_cli(pid_, 30);
  }
}

RespConn RespConn::tcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    fd = -1;
  }
  return RespConn(fd);
}

RespConn RespConn::unix_socket(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    fd = -1;
  }
  return RespConn(fd);
}

RespConn::~RespConn() {
  if (fd_ >= 0) close(fd_);
}

bool RespConn::send(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

bool RespConn::fill(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return false;
  char tmp[65536];
  const ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) return false;
  buf_.append(tmp, size_t(n));
  return true;
}

size_t RespConn::complete(size_t pos) const {
  if (pos >= buf_.size()) return 0;
  const size_t eol = buf_.find("\r\n", pos);
  if (eol == std::string::npos) return 0;
  const char t = buf_[pos];
  const std::string line = buf_.substr(pos + 1, eol - pos - 1);
  size_t next = eol + 2;
  switch (t) {
    case '+': case '-': case ':': case '_': case ',': case '#': case '(': return next;
    case '$': case '=': case '!': {
      const long n = std::stol(line);
      if (n < 0) return next;
      return buf_.size() >= next + size_t(n) + 2 ? next + size_t(n) + 2 : 0;
    }
    case '*': case '~': case '%': case '>': {
      long n = std::stol(line);
      if (n < 0) return next;
      if (t == '%') n *= 2;
      for (long i = 0; i < n; ++i) {
        next = complete(next);
        if (next == 0) return 0;
      }
      return next;
    }
    default: return 0;
  }
}

std::string RespConn::read_reply(int timeout_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (size_t n = complete(0); n > 0) {
      std::string r = buf_.substr(0, n);
      buf_.erase(0, n);
      return r;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !fill(int(left.count()))) return "";
  }
}

bool RespConn::closed_by_peer(int timeout_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char tmp[4096];
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = recv(fd_, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN) return true;
  }
  return false;
}

std::string resp_command(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

}  // namespace cv::test
