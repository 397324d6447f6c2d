#pragma once
// Physical quantities as types, so a byte count can never be passed where a bandwidth is expected.
//   Bytes      exact int64 byte count (up to 8 EiB).
//   Bandwidth  bytes per second, double (400 Gbps = 5e10 B/s exactly).
//   Flops      floating-point operation count, double (a 405B-parameter step is ~1e20, beyond int64).
//   FlopRate   FLOP per second, double.
//   Power      watts, double.
// Cross-type arithmetic returns the physically meaningful type: Bytes / Bandwidth = Duration,
// Flops / FlopRate = Duration. Strings with units are parsed and printed by unit_parser.hpp.
#include <compare>
#include <cstdint>

#include "core/time.hpp"

namespace mfusim::core {

class Bytes {
 public:
  constexpr Bytes() = default;
  constexpr explicit Bytes(std::int64_t count) : count_(count) {}
  constexpr std::int64_t count() const { return count_; }
  constexpr double as_double() const { return static_cast<double>(count_); }
  constexpr Bytes operator+(Bytes o) const { return Bytes(count_ + o.count_); }
  constexpr Bytes operator-(Bytes o) const { return Bytes(count_ - o.count_); }
  constexpr Bytes& operator+=(Bytes o) { count_ += o.count_; return *this; }
  constexpr Bytes operator*(std::int64_t k) const { return Bytes(count_ * k); }
  constexpr auto operator<=>(const Bytes&) const = default;

 private:
  std::int64_t count_ = 0;
};

// A double-valued quantity with a dimension tag; value() is in SI base units of that dimension.
template <class Tag>
class Quantity {
 public:
  constexpr Quantity() = default;
  constexpr explicit Quantity(double value) : value_(value) {}
  constexpr double value() const { return value_; }
  constexpr Quantity operator+(Quantity o) const { return Quantity(value_ + o.value_); }
  constexpr Quantity operator-(Quantity o) const { return Quantity(value_ - o.value_); }
  constexpr Quantity operator*(double k) const { return Quantity(value_ * k); }
  constexpr Quantity operator/(double k) const { return Quantity(value_ / k); }
  constexpr double operator/(Quantity o) const { return value_ / o.value_; }
  constexpr Quantity& operator+=(Quantity o) { value_ += o.value_; return *this; }
  constexpr auto operator<=>(const Quantity&) const = default;

 private:
  double value_ = 0.0;
};

struct BandwidthTag {};
struct FlopsTag {};
struct FlopRateTag {};
struct PowerTag {};

using Bandwidth = Quantity<BandwidthTag>;  // bytes per second
using Flops = Quantity<FlopsTag>;          // FLOP
using FlopRate = Quantity<FlopRateTag>;    // FLOP per second
using Power = Quantity<PowerTag>;          // watts

// Time to move `bytes` at `rate` (rounded to the nearest picosecond).
inline Duration operator/(Bytes bytes, Bandwidth rate) {
  return Duration::from_seconds(bytes.as_double() / rate.value());
}
// Time to execute `work` at `rate`.
inline Duration operator/(Flops work, FlopRate rate) { return Duration::from_seconds(work.value() / rate.value()); }
inline FlopRate operator/(Flops work, Duration time) { return FlopRate(work.value() / time.seconds()); }
inline Bandwidth operator/(Bytes bytes, Duration time) { return Bandwidth(bytes.as_double() / time.seconds()); }

}  // namespace mfusim::core
