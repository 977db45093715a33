// Progress line drawn on stderr with a carriage return.
#include "client/progress.h"

#include <unistd.h>

#include <cstdio>

#include "shm/clock.h"

namespace cv::client {

Progress::Progress(std::string what, uint64_t total)
    : what_(std::move(what)), total_(total), start_ns_(mono_ns()), tty_(isatty(2)) {}

void Progress::update(uint64_t done, const std::string& extra) {
  if (!tty_) return;
  const uint64_t now = mono_ns();
  if (now - last_ns_ < 200'000'000ull) return;
  last_ns_ = now;
  const double secs = double(now - start_ns_) / 1e9;
  const double rate = secs > 0 ? double(done) / secs : 0;
  if (total_ > 0) {
    const double frac = double(done) / double(total_);
    const int width = 30;
    std::string bar(size_t(frac * width), '#');
    bar.resize(width, '.');
    const double eta = rate > 0 ? double(total_ - std::min(done, total_)) / rate : 0;
    fprintf(stderr, "\r%s [%s] %llu/%llu  %.0f/s  ETA %.0fs %s  ", what_.c_str(), bar.c_str(),
            static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_), rate, eta, extra.c_str());
  } else {
    fprintf(stderr, "\r%s %llu  %.0f/s %s  ", what_.c_str(), static_cast<unsigned long long>(done), rate,
            extra.c_str());
  }
  fflush(stderr);
}

void Progress::done(uint64_t) {
  if (tty_ && last_ns_ != 0) fprintf(stderr, "\r\033[K");
}

}  // namespace cv::client
