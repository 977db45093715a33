// Progress line drawn on stderr with a carriage return and an erase to the
// end of the line, sized to the terminal at every redraw (a resized pane
// takes effect at once).
#include "client/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "shm/clock.h"

namespace cv::client {

namespace {
constexpr uint64_t kRedrawEveryNs = 200'000'000ull;
constexpr int kMinBar = 10;

std::string human_count(double v) {
  char buf[32];
  if (v >= 1e9) snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (v >= 1e6) snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1e4) snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}
}  // namespace

int terminal_columns(int fd) {
  struct winsize ws {};
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

std::string progress_line(const std::string& what, uint64_t done, uint64_t total, double rate,
                          const std::string& extra, int columns) {
  const size_t width = size_t(std::max(columns - 1, 1));
  std::string tail = " " + human_count(double(done));
  if (total > 0) tail += "/" + human_count(double(total));
  tail += "  " + human_count(rate) + "/s";
  if (total > 0 && rate > 0) {
    char eta[32];
    snprintf(eta, sizeof eta, "  ETA %.0fs", double(total - std::min(done, total)) / rate);
    tail += eta;
  }
  if (!extra.empty()) tail += "  " + extra;
  std::string line = what;
  if (total > 0) {
    // The bar gets what the text leaves, up to 40 columns; dropped when the
    // terminal is too narrow for it.
    const size_t text = what.size() + 3 + tail.size();
    if (width >= text + kMinBar) {
      const size_t bar_width = std::min<size_t>(width - text, 40);
      const double frac = std::min(1.0, double(done) / double(total));
      std::string bar(size_t(frac * double(bar_width)), '#');
      bar.resize(bar_width, '.');
      line += " [" + bar + "]";
    }
  }
  line += tail;
  if (line.size() > width) line.resize(width);
  return line;
}

Progress::Progress(std::string what, uint64_t total, bool quiet)
    : what_(std::move(what)), total_(total), start_ns_(mono_ns()), tty_(!quiet && isatty(STDERR_FILENO)) {}

Progress::~Progress() { done(); }

bool Progress::due() {
  if (!tty_) return false;
  const uint64_t now = mono_ns();
  if (now - last_ns_ < kRedrawEveryNs) return false;
  last_ns_ = now;
  return true;
}

void Progress::draw(const std::string& line) {
  fprintf(stderr, "\r%s\033[K", line.c_str());
  fflush(stderr);
  drawn_ = true;
}

void Progress::update(uint64_t done, const std::string& extra) {
  if (!due()) return;
  const double secs = double(mono_ns() - start_ns_) / 1e9;
  const double rate = secs > 0 ? double(done) / secs : 0;
  draw(progress_line(what_, done, total_, rate, extra, terminal_columns(STDERR_FILENO)));
}

void Progress::status(const std::string& line) {
  if (!due()) return;
  std::string cut = what_ + " " + line;
  const size_t width = size_t(std::max(terminal_columns(STDERR_FILENO) - 1, 1));
  if (cut.size() > width) cut.resize(width);
  draw(cut);
}

void Progress::done(uint64_t) {
  if (drawn_) {
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace cv::client
