#include "core/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace mfusim::core {

namespace {
constexpr double kQuietSeconds = 1.0;    // show nothing for commands shorter than this
constexpr double kRedrawSeconds = 0.2;   // at most 5 redraws per second
}  // namespace

ProgressBar::ProgressBar(std::ostream& out, std::size_t total, std::string label, bool enabled)
    : out_(out), total_(total), label_(std::move(label)), enabled_(enabled), start_(Clock::now()), last_draw_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

bool ProgressBar::stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

std::string format_eta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(std::llround(seconds));
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  }
  return buf;
}

void ProgressBar::update(std::size_t done) {
  if (!enabled_) return;
  const auto now = Clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (elapsed < kQuietSeconds) return;
  if (done < total_ && drawn_ && std::chrono::duration<double>(now - last_draw_).count() < kRedrawSeconds) return;
  last_draw_ = now;
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : -1.0;
  constexpr int kWidth = 24;
  const int filled = total_ > 0 ? static_cast<int>(kWidth * static_cast<double>(done) / static_cast<double>(total_)) : kWidth;
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kWidth, '.');
  char line[160];
  std::snprintf(line, sizeof line, "\r%s [%s] %zu/%zu  %.1f/s  ETA %s   ", label_.c_str(), bar.c_str(), done, total_, rate,
                format_eta(eta).c_str());
  out_ << line << std::flush;
  drawn_ = true;
}

void ProgressBar::finish() {
  if (drawn_) {
    out_ << "\n" << std::flush;
    drawn_ = false;
  }
}

}  // namespace mfusim::core
