#pragma once
// A one-line progress report for long batch commands (sweep, search): "label 37/100  12.3/s  ETA 5s",
// redrawn in place on stderr. It stays silent for the first second (a quick command prints nothing)
// and when disabled (stderr not a terminal and not forced), and only redraws a few times a second.
// It is never written to stdout, so results stay byte-identical whether or not it showed.
#include <chrono>
#include <cstddef>
#include <ostream>
#include <string>

namespace mfusim::core {

class ProgressBar {
 public:
  ProgressBar(std::ostream& out, std::size_t total, std::string label, bool enabled);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // `done` jobs of `total` have finished. Call from one thread at a time.
  void update(std::size_t done);
  // Ends the line (if anything was drawn).
  void finish();

  // Whether stderr is an interactive terminal (the default for `enabled`).
  static bool stderr_is_terminal();

 private:
  using Clock = std::chrono::steady_clock;
  std::ostream& out_;
  std::size_t total_;
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  Clock::time_point start_;
  Clock::time_point last_draw_;
};

// "5s", "2m05s", "1h02m"
std::string format_eta(double seconds);

}  // namespace mfusim::core
