// Progress: a one-line progress display for long commands (load, restore,
// backup) on stderr: count, bar, rate, ETA, sized to the terminal's width so
// a redraw never wraps. Silent when stderr is not a terminal or with
// --quiet, so programs and logs see only the result. Not thread safe: one
// command thread draws.
#pragma once

#include <cstdint>
#include <string>

namespace cv::client {

class Progress {
 public:
  // total 0: the count is open-ended (no bar, no ETA).
  Progress(std::string what, uint64_t total, bool quiet = false);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Redraws at most five times a second.
  void update(uint64_t done, const std::string& extra = "");
  // Draws a free-form status line (e.g. a backup's phase), cut to the width.
  void status(const std::string& line);
  // Clears the line, leaving the terminal as it was.
  void done(uint64_t done = 0);
  bool active() const { return tty_; }

 private:
  bool due();
  void draw(const std::string& line);

  std::string what_;
  uint64_t total_;
  uint64_t start_ns_;
  uint64_t last_ns_ = 0;
  bool tty_;
  bool drawn_ = false;
};

// Columns of the terminal on file descriptor fd (TIOCGWINSZ), or 80 when it
// is not a terminal or does not say.
int terminal_columns(int fd);

// The progress line for `done` of `total` in `columns` columns, without the
// carriage return: "what [####....] done/total rate/s ETA Ns extra", the bar
// taking what the text leaves; cut to columns - 1 so it never wraps.
std::string progress_line(const std::string& what, uint64_t done, uint64_t total, double rate,
                          const std::string& extra, int columns);

}  // namespace cv::client
