#pragma once
// Parsing and printing of quantities with units: "400Gbps", "50GBps", "1.5us", "80GiB", "989TFLOPS".
//
// Grammar: NUMBER [one space] UNIT, NUMBER = digits[.digits][e[+-]digits] (no sign, no NaN/inf).
// Units are case-sensitive: "Gbps" is gigabits per second, "GBps" (or "GB/s") gigabytes per second.
// Prefixes: k/K = 1e3, M = 1e6, G = 1e9, T = 1e12, P = 1e15, E = 1e18 (decimal); Ki = 2^10, Mi = 2^20,
// Gi = 2^30, Ti = 2^40, Pi = 2^50 (binary, bytes only). Exactness:
//   - integer dimensions (time in ps, bytes) are computed in 128-bit integer arithmetic from the decimal
//     digits, so "1.5us" is exactly 1,500,000 ps and "80GiB" exactly 85,899,345,920 B; a value that is
//     not a whole number of ps or bytes ("0.5ps", "1.5B") is rejected rather than rounded;
//   - double dimensions are computed by one correctly rounded strtod of "digits e exponent", then exact
//     scalings by powers of two (binary prefixes, bits/8), so "400Gbps" is exactly 5e10 B/s.
#include <string>
#include <string_view>

#include "core/units.hpp"

namespace mfusim::core {

enum class Dimension { kTime, kBytes, kBandwidth, kFlops, kFlopRate, kPower };

// Each throws UnitError with a message naming the problem and the accepted units.
Duration parse_duration(std::string_view text);
// A duration in seconds as a double, for spans beyond a Duration's 2^63 ps (~106 days): "4y", "1460d".
double parse_duration_seconds(std::string_view text);
Bytes parse_bytes(std::string_view text);
Bandwidth parse_bandwidth(std::string_view text);
Flops parse_flops(std::string_view text);
FlopRate parse_flop_rate(std::string_view text);
Power parse_power(std::string_view text);

// Canonical text: parses back to the same value (exactly for Duration and Bytes, to the shortest
// round-trip representation for the double quantities).
std::string format_duration(Duration d);
std::string format_bytes(Bytes b);
std::string format_bandwidth(Bandwidth b);  // in bytes per second, e.g. "50GBps"
std::string format_flops(Flops f);
std::string format_flop_rate(FlopRate r);
std::string format_power(Power p);

// "a bandwidth", "a duration", ...
std::string_view dimension_noun(Dimension d);
// Example value and the full list of accepted units, for error messages and `mfusim describe units`.
std::string_view dimension_example(Dimension d);
std::string accepted_units(Dimension d);

}  // namespace mfusim::core
