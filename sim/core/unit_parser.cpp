#include "core/unit_parser.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace mfusim::core {
namespace {

// value = mantissa * 10^exp10 * 2^exp2 * multiplier / (bits ? 8 : 1), in the dimension's base unit
// (picoseconds, bytes, bytes/s, FLOP, FLOP/s, watts).
struct UnitDef {
  std::string symbol;
  int exp10 = 0;
  int exp2 = 0;
  std::int64_t multiplier = 1;
  bool bits = false;
};

struct Prefix {
  const char* symbol;
  int exp10;
  int exp2;
};

constexpr std::array<Prefix, 7> kDecimalPrefixes{{
    {"", 0, 0}, {"k", 3, 0}, {"M", 6, 0}, {"G", 9, 0}, {"T", 12, 0}, {"P", 15, 0}, {"E", 18, 0}}};
constexpr std::array<Prefix, 5> kBinaryPrefixes{{
    {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}}};

std::vector<UnitDef> make_units(Dimension d) {
  std::vector<UnitDef> u;
  auto add_prefixed = [&u](std::initializer_list<const char*> bases, bool bits, bool binary) {
    for (const char* base : bases) {
      for (const auto& p : kDecimalPrefixes) u.push_back({std::string(p.symbol) + base, p.exp10, 0, 1, bits});
      // "K" is accepted as a synonym of "k" (KB, Kbps): both mean 1000, never 1024.
      u.push_back({std::string("K") + base, 3, 0, 1, bits});
      if (binary) {
        for (const auto& p : kBinaryPrefixes) u.push_back({std::string(p.symbol) + base, 0, p.exp2, 1, bits});
      }
    }
  };
  switch (d) {
    case Dimension::kTime:
      u = {{"ps", 0, 0, 1, false},  {"ns", 3, 0, 1, false},   {"us", 6, 0, 1, false},
           {"\xC2\xB5s", 6, 0, 1, false}, {"ms", 9, 0, 1, false}, {"s", 12, 0, 1, false},
           {"min", 12, 0, 60, false}, {"h", 12, 0, 3600, false},
           // Long spans (amortization periods, time to train): a day is 86,400 s; a year is the Julian
           // year of 365.25 days (IAU). A Duration holds at most 2^63 ps (~106 days); longer spans are
           // read with parse_duration_seconds().
           {"d", 12, 0, 86'400, false}, {"y", 12, 0, 31'557'600, false}};
      break;
    case Dimension::kBytes:
      add_prefixed({"B"}, false, true);
      break;
    case Dimension::kBandwidth:
      add_prefixed({"bps", "b/s"}, true, false);
      add_prefixed({"Bps", "B/s"}, false, true);
      break;
    case Dimension::kFlops:
      add_prefixed({"FLOP"}, false, false);
      break;
    case Dimension::kFlopRate:
      add_prefixed({"FLOPS", "FLOP/s"}, false, false);
      break;
    case Dimension::kPower:
      add_prefixed({"W"}, false, false);
      break;
  }
  return u;
}

const std::vector<UnitDef>& units_of(Dimension d) {
  static const std::array<std::vector<UnitDef>, 6> kTables{
      make_units(Dimension::kTime),     make_units(Dimension::kBytes),    make_units(Dimension::kBandwidth),
      make_units(Dimension::kFlops),    make_units(Dimension::kFlopRate), make_units(Dimension::kPower)};
  return kTables[static_cast<std::size_t>(d)];
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

struct Parsed {
  std::string digits;  // mantissa digits without the decimal point, leading zeros kept
  int exp10 = 0;       // mantissa = digits * 10^exp10
  const UnitDef* unit = nullptr;
};

[[noreturn]] void fail(Dimension d, std::string_view text, const std::string& why) {
  throw UnitError("'" + std::string(text) + "' is not " + std::string(dimension_noun(d)) + ": " + why);
}

Parsed split(Dimension d, std::string_view text) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  if (n == 0) fail(d, text, "empty value (expected e.g. " + std::string(dimension_example(d)) + ")");
  if (text[0] == '-') fail(d, text, "negative quantities are not allowed");
  if (text[0] == '+') fail(d, text, "write the number without a sign");
  Parsed p;
  std::size_t fraction_digits = 0;
  bool seen_digit = false;
  while (i < n && is_digit(text[i])) { p.digits += text[i++]; seen_digit = true; }
  if (i < n && text[i] == '.') {
    ++i;
    while (i < n && is_digit(text[i])) { p.digits += text[i++]; ++fraction_digits; seen_digit = true; }
  }
  if (!seen_digit) {
    fail(d, text, "expected a number followed by a unit, e.g. " + std::string(dimension_example(d)));
  }
  long long exponent = 0;
  if (i + 1 < n && (text[i] == 'e' || text[i] == 'E') &&
      (is_digit(text[i + 1]) || ((text[i + 1] == '-' || text[i + 1] == '+') && i + 2 < n && is_digit(text[i + 2])))) {
    ++i;
    const bool negative = text[i] == '-';
    if (text[i] == '-' || text[i] == '+') ++i;
    while (i < n && is_digit(text[i])) {
      exponent = exponent * 10 + (text[i++] - '0');
      if (exponent > 400) fail(d, text, "exponent out of range");
    }
    if (negative) exponent = -exponent;
  }
  if (i < n && text[i] == ' ') ++i;
  const std::string_view symbol = text.substr(i);
  if (symbol.empty()) {
    fail(d, text, "missing unit (write e.g. " + std::string(dimension_example(d)) + "; units: " + accepted_units(d) + ")");
  }
  for (const auto& u : units_of(d)) {
    if (u.symbol == symbol) { p.unit = &u; break; }
  }
  if (p.unit == nullptr) {
    std::vector<std::string> names;
    for (const auto& u : units_of(d)) names.push_back(u.symbol);
    std::string why = "unknown unit '" + std::string(symbol) + "'";
    if (auto m = closest_match(symbol, names)) why += " (did you mean '" + *m + "'?)";
    fail(d, text, why + "; units: " + accepted_units(d));
  }
  // Strip leading zeros so the digit count measures magnitude, not formatting.
  const auto first = p.digits.find_first_not_of('0');
  p.digits = first == std::string::npos ? "0" : p.digits.substr(first);
  p.exp10 = static_cast<int>(exponent) - static_cast<int>(fraction_digits) + p.unit->exp10;
  return p;
}

std::int64_t parse_integer_quantity(Dimension d, std::string_view text, const char* base_unit) {
  const Parsed p = split(d, text);
  if (p.digits.size() > 30) fail(d, text, "too many significant digits");
  __extension__ typedef __int128 I;  // GCC/Clang extension; exact for 30 decimal digits
  constexpr I kMax = std::numeric_limits<std::int64_t>::max();
  I value = 0;
  for (char c : p.digits) value = value * 10 + (c - '0');
  value *= p.unit->multiplier;
  int e2 = p.unit->exp2;
  const auto out_of_range = [&] { fail(d, text, "out of range (at most 2^63-1 " + std::string(base_unit) + ")"); };
  while (e2-- > 0) { value *= 2; if (value > kMax) out_of_range(); }
  int e10 = p.exp10;
  while (e10 > 0 && value != 0) { value *= 10; --e10; if (value > kMax) out_of_range(); }
  while (e10 < 0 && value != 0) {
    if (value % 10 != 0) fail(d, text, std::string("not a whole number of ") + base_unit);
    value /= 10;
    ++e10;
  }
  if (value > kMax) out_of_range();
  return static_cast<std::int64_t>(value);
}

double parse_real_quantity(Dimension d, std::string_view text) {
  const Parsed p = split(d, text);
  const std::string literal = p.digits + "e" + std::to_string(p.exp10);
  double v = std::strtod(literal.c_str(), nullptr);
  v = std::ldexp(v, p.unit->exp2) * static_cast<double>(p.unit->multiplier);
  if (p.unit->bits) v /= 8.0;
  if (!std::isfinite(v)) fail(d, text, "out of range");
  return v;
}

// Exact decimal text of value / 10^scale_digits with trailing zeros trimmed.
std::string scaled_integer(std::int64_t value, int scale_digits) {
  const bool negative = value < 0;
  const unsigned long long magnitude =
      negative ? 0ULL - static_cast<unsigned long long>(value) : static_cast<unsigned long long>(value);
  std::string digits = std::to_string(magnitude);
  if (scale_digits > 0) {
    while (static_cast<int>(digits.size()) <= scale_digits) digits.insert(digits.begin(), '0');
    digits.insert(digits.end() - scale_digits, '.');
    while (digits.back() == '0') digits.pop_back();
    if (digits.back() == '.') digits.pop_back();
  }
  return negative ? "-" + digits : digits;
}

std::string shortest(double v) {
  std::array<char, 64> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return std::string(buf.data(), end);
}

std::string format_real(double v, std::initializer_list<const char*> unit_by_thousands) {
  // unit_by_thousands[k] is the unit for 10^(3k).
  std::size_t k = 0;
  double scaled = v;
  const std::size_t last = unit_by_thousands.size() - 1;
  while (k < last && std::fabs(scaled) >= 1000.0) { scaled /= 1000.0; ++k; }
  // Re-scale from v with one division so the value is correctly rounded (not rounded k times).
  scaled = k == 0 ? v : v / std::pow(10.0, 3.0 * static_cast<double>(k));
  return shortest(scaled) + *(unit_by_thousands.begin() + k);
}

}  // namespace

Duration parse_duration(std::string_view text) {
  return Duration::from_ps(parse_integer_quantity(Dimension::kTime, text, "picoseconds"));
}
double parse_duration_seconds(std::string_view text) {
  return parse_real_quantity(Dimension::kTime, text) * 1e-12;
}
Bytes parse_bytes(std::string_view text) { return Bytes(parse_integer_quantity(Dimension::kBytes, text, "bytes")); }
Bandwidth parse_bandwidth(std::string_view text) { return Bandwidth(parse_real_quantity(Dimension::kBandwidth, text)); }
Flops parse_flops(std::string_view text) { return Flops(parse_real_quantity(Dimension::kFlops, text)); }
FlopRate parse_flop_rate(std::string_view text) { return FlopRate(parse_real_quantity(Dimension::kFlopRate, text)); }
Power parse_power(std::string_view text) { return Power(parse_real_quantity(Dimension::kPower, text)); }

std::string format_duration(Duration d) {
  const std::int64_t ps = d.ps();
  const std::int64_t mag = ps < 0 ? -ps : ps;
  if (mag >= 1'000'000'000'000) return scaled_integer(ps, 12) + "s";
  if (mag >= 1'000'000'000) return scaled_integer(ps, 9) + "ms";
  if (mag >= 1'000'000) return scaled_integer(ps, 6) + "us";
  if (mag >= 1'000) return scaled_integer(ps, 3) + "ns";
  return scaled_integer(ps, 0) + "ps";
}

std::string format_bytes(Bytes b) {
  // Exact decimal form ("1.5kB", "80GB"), or the binary form when it is a whole number of KiB..PiB and
  // no longer ("80GiB" rather than "85.89934592GB"; "80GB" rather than "78125000KiB").
  const std::int64_t v = b.count();
  static constexpr std::array<const char*, 6> kDecimal{"kB", "MB", "GB", "TB", "PB", "EB"};
  const std::int64_t mag = v < 0 ? -v : v;
  std::int64_t unit = 1;
  int k = 0;
  while (k < 6 && mag / unit >= 1000) { unit *= 1000; ++k; }
  std::string best = k == 0 ? std::to_string(v) + "B" : scaled_integer(v, 3 * k) + kDecimal[static_cast<std::size_t>(k - 1)];
  static constexpr std::array<const char*, 5> kBinary{"KiB", "MiB", "GiB", "TiB", "PiB"};
  for (int j = 5; j >= 1; --j) {
    const std::int64_t bunit = std::int64_t{1} << (10 * j);
    if (v != 0 && v % bunit == 0) {
      std::string binary = std::to_string(v / bunit) + kBinary[static_cast<std::size_t>(j - 1)];
      if (binary.size() <= best.size()) best = std::move(binary);
      break;
    }
  }
  return best;
}

std::string format_bandwidth(Bandwidth b) { return format_real(b.value(), {"Bps", "kBps", "MBps", "GBps", "TBps", "PBps"}); }
std::string format_flops(Flops f) {
  return format_real(f.value(), {"FLOP", "kFLOP", "MFLOP", "GFLOP", "TFLOP", "PFLOP", "EFLOP"});
}
std::string format_flop_rate(FlopRate r) {
  return format_real(r.value(), {"FLOPS", "kFLOPS", "MFLOPS", "GFLOPS", "TFLOPS", "PFLOPS", "EFLOPS"});
}
std::string format_power(Power p) { return format_real(p.value(), {"W", "kW", "MW", "GW"}); }

std::string_view dimension_noun(Dimension d) {
  switch (d) {
    case Dimension::kTime: return "a duration";
    case Dimension::kBytes: return "a size in bytes";
    case Dimension::kBandwidth: return "a bandwidth";
    case Dimension::kFlops: return "a FLOP count";
    case Dimension::kFlopRate: return "a FLOP rate";
    case Dimension::kPower: return "a power";
  }
  return "a quantity";
}

std::string_view dimension_example(Dimension d) {
  switch (d) {
    case Dimension::kTime: return "1.5us";
    case Dimension::kBytes: return "80GiB";
    case Dimension::kBandwidth: return "400Gbps or 50GBps";
    case Dimension::kFlops: return "3.2PFLOP";
    case Dimension::kFlopRate: return "989TFLOPS";
    case Dimension::kPower: return "700W";
  }
  return "";
}

std::string accepted_units(Dimension d) {
  switch (d) {
    case Dimension::kTime: return "ps ns us ms s min h d y";
    case Dimension::kBytes: return "B kB MB GB TB PB EB (x1000) or KiB MiB GiB TiB PiB (x1024)";
    case Dimension::kBandwidth:
      return "bits/s: bps Kbps Mbps Gbps Tbps (or Gb/s); bytes/s: Bps kBps MBps GBps TBps (or GB/s), "
             "KiBps MiBps GiBps TiBps";
    case Dimension::kFlops: return "FLOP kFLOP MFLOP GFLOP TFLOP PFLOP EFLOP";
    case Dimension::kFlopRate: return "FLOPS (= FLOP/s) kFLOPS MFLOPS GFLOPS TFLOPS PFLOPS EFLOPS";
    case Dimension::kPower: return "W kW MW";
  }
  return "";
}

}  // namespace mfusim::core
