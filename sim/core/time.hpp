#pragma once
// Simulated time. Model: time is an integer count of picoseconds in an int64 (range +-106 days), so
// additions are exact and the event order never depends on floating-point rounding. 1 ps resolves a
// 64-byte flit on a 50 GB/s link (1.28 ns) three orders of magnitude finer than needed; 106 days covers
// any training step and any time-to-train we report in seconds (computed in double, not SimTime).
// Conversions from seconds (double) round to the nearest picosecond and are range-checked.
#include <compare>
#include <cstdint>
#include <limits>

namespace mfusim::core {

class Duration {
 public:
  constexpr Duration() = default;
  static constexpr Duration from_ps(std::int64_t ps) { return Duration(ps); }
  static constexpr Duration from_ns(std::int64_t ns) { return Duration(ns * 1000); }
  static constexpr Duration from_us(std::int64_t us) { return Duration(us * 1000 * 1000); }
  static constexpr Duration from_ms(std::int64_t ms) { return Duration(ms * 1000 * 1000 * 1000); }
  // Rounds to the nearest picosecond; throws InternalError if not finite or out of range.
  static Duration from_seconds(double seconds);
  static constexpr Duration zero() { return Duration(0); }
  static constexpr Duration max() { return Duration(std::numeric_limits<std::int64_t>::max()); }

  constexpr std::int64_t ps() const { return ps_; }
  constexpr double seconds() const { return static_cast<double>(ps_) * 1e-12; }

  constexpr Duration operator+(Duration o) const { return Duration(ps_ + o.ps_); }
  constexpr Duration operator-(Duration o) const { return Duration(ps_ - o.ps_); }
  constexpr Duration& operator+=(Duration o) { ps_ += o.ps_; return *this; }
  constexpr Duration& operator-=(Duration o) { ps_ -= o.ps_; return *this; }
  constexpr Duration operator*(std::int64_t k) const { return Duration(ps_ * k); }
  constexpr auto operator<=>(const Duration&) const = default;

 private:
  constexpr explicit Duration(std::int64_t ps) : ps_(ps) {}
  std::int64_t ps_ = 0;
};

// A point on the simulated clock, in picoseconds since the start of the simulation.
class SimTime {
 public:
  constexpr SimTime() = default;
  static constexpr SimTime from_ps(std::int64_t ps) { return SimTime(ps); }
  static constexpr SimTime zero() { return SimTime(0); }
  static constexpr SimTime max() { return SimTime(std::numeric_limits<std::int64_t>::max()); }

  constexpr std::int64_t ps() const { return ps_; }
  constexpr double seconds() const { return static_cast<double>(ps_) * 1e-12; }
  constexpr Duration since_start() const { return Duration::from_ps(ps_); }

  constexpr SimTime operator+(Duration d) const { return SimTime(ps_ + d.ps()); }
  constexpr Duration operator-(SimTime o) const { return Duration::from_ps(ps_ - o.ps_); }
  constexpr auto operator<=>(const SimTime&) const = default;

 private:
  constexpr explicit SimTime(std::int64_t ps) : ps_(ps) {}
  std::int64_t ps_ = 0;
};

}  // namespace mfusim::core
