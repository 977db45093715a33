// Request channel micro-benchmarks: a mailbox between two processes,
// streaming (one-way, batched or not) and round trips (request + reply),
// beside a memcpy of the same bytes measured in the same binary.
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "shm/block_layout.h"
#include "shm/mailbox.h"

namespace {

using cv::Deadline;
using cv::shm::Mailbox;
using cv::shm::MailboxHeader;
using cv::shm::MsgHeader;

constexpr size_t kRecordBytes = 150;  // a 100-byte value with key and framing

// Two mailboxes in an anonymous shared mapping: requests and replies.
struct Pair {
  Pair() {
    bytes = 2 * (sizeof(MailboxHeader) + cv::shm::kMailboxRingBytes);
    mem = static_cast<char*>(mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    for (int i = 0; i < 2; ++i) {
      auto* h = new (mem + i * (sizeof(MailboxHeader) + cv::shm::kMailboxRingBytes)) MailboxHeader;
      h->producer_lock.init();
    }
  }
  ~Pair() { munmap(mem, bytes); }
  MailboxHeader* header(int i) {
    return reinterpret_cast<MailboxHeader*>(mem + i * (sizeof(MailboxHeader) + cv::shm::kMailboxRingBytes));
  }
  Mailbox box(int i) { return Mailbox(header(i), reinterpret_cast<char*>(header(i)) + sizeof(MailboxHeader)); }
  char* mem;
  size_t bytes;
};

// Message types of this benchmark: raw bytes, outside the protocol's types,
// so the mailbox's message check lets them through as they are.
constexpr uint16_t kBenchData = 0x7f00;
constexpr uint16_t kBenchStop = 0x7f01;

// A child process that drains box 0 and, if asked, answers each message in
// box 1 with a small reply. It stops on a kBenchStop message.
pid_t start_peer(Pair& p, bool reply) {
  pid_t pid = fork();
  if (pid != 0) {
    // Named as box 0's consumer before anything is sent, so nothing is dropped.
    p.header(0)->consumer_pid.store(pid);
    return pid;
  }
  bool stop = false;
  std::string ack(16, 'a');
  while (!stop) {
    p.box(0).drain([&](const MsgHeader& h, std::string_view) {
      if (h.type == kBenchStop) stop = true;
      if (reply) p.box(1).send(kBenchData, 0, 0, h.request_id, ack, Deadline::in_ms(5000));
    });
    if (!stop) p.box(0).wait(10'000'000);
  }
  _exit(0);
}

void stop_peer(Pair& p, pid_t pid) {
  p.box(0).send(kBenchStop, 0, 0, 0, {}, Deadline::in_ms(5000));
  waitpid(pid, nullptr, 0);
}

// One-way streaming of records, `batch` records per message.
void BM_ChannelStream(benchmark::State& state) {
  const size_t batch = size_t(state.range(0));
  Pair p;
  pid_t peer = start_peer(p, false);
  std::string msg(batch * kRecordBytes, 'x');
  for (auto _ : state)
    if (!p.box(0).send(kBenchData, 0, 0, 0, msg, Deadline::in_ms(5000))) state.SkipWithError("send failed");
  stop_peer(p, peer);
  state.SetItemsProcessed(int64_t(state.iterations() * batch));
  state.SetBytesProcessed(int64_t(state.iterations() * msg.size()));
  state.counters["records/s"] = benchmark::Counter(double(state.iterations() * batch), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ChannelStream)->Arg(1)->Arg(64)->Arg(512)->UseRealTime();

// Round trips: send a request of `batch` records, wait for the reply.
void BM_ChannelRoundTrip(benchmark::State& state) {
  const size_t batch = size_t(state.range(0));
  Pair p;
  p.box(1).open_for(getpid());
  pid_t peer = start_peer(p, true);
  std::string msg(batch * kRecordBytes, 'x');
  uint64_t id = 0;
  for (auto _ : state) {
    p.box(0).send(kBenchData, 0, 0, ++id, msg, Deadline::in_ms(5000));
    bool got = false;
    while (!got) {
      p.box(1).drain([&](const MsgHeader& h, std::string_view) { got = h.request_id == id; });
      if (!got) p.box(1).wait(10'000'000);
    }
  }
  stop_peer(p, peer);
  state.SetItemsProcessed(int64_t(state.iterations() * batch));
  state.counters["records/s"] = benchmark::Counter(double(state.iterations() * batch), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ChannelRoundTrip)->Arg(1)->Arg(64)->Arg(512)->UseRealTime();

// The yardstick: memcpy of the same message bytes.
void BM_Memcpy(benchmark::State& state) {
  const size_t bytes = size_t(state.range(0)) * kRecordBytes;
  std::vector<char> src(bytes, 'x'), dst(bytes);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations() * bytes));
  state.counters["records/s"] =
      benchmark::Counter(double(state.iterations() * state.range(0)), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Memcpy)->Arg(1)->Arg(64)->Arg(512);

}  // namespace

BENCHMARK_MAIN();
