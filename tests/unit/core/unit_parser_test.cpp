#include "core/unit_parser.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"

namespace mfusim::core {
namespace {

TEST(UnitParser, DurationsAreExactPicoseconds) {
  EXPECT_EQ(parse_duration("1.5us").ps(), 1'500'000) << "1.5 us = 1.5e6 ps exactly";
  EXPECT_EQ(parse_duration("1ps").ps(), 1);
  EXPECT_EQ(parse_duration("2ms").ps(), 2'000'000'000);
  EXPECT_EQ(parse_duration("0.000001s").ps(), 1'000'000);
  EXPECT_EQ(parse_duration("1 ns").ps(), 1000) << "one space between number and unit is allowed";
  EXPECT_EQ(parse_duration("1e3ns").ps(), 1'000'000);
  EXPECT_EQ(parse_duration("2min").ps(), 120'000'000'000'000);
  EXPECT_EQ(parse_duration("3\xC2\xB5s").ps(), 3'000'000) << "the micro sign is accepted like us";
}

TEST(UnitParser, DaysAndJulianYears) {
  EXPECT_EQ(parse_duration("1d").ps(), 86'400'000'000'000'000) << "1 d = 86,400 s";
  EXPECT_THROW(parse_duration("1y"), UnitError) << "a year (3.16e19 ps) does not fit a Duration's int64 picoseconds";
  EXPECT_DOUBLE_EQ(parse_duration_seconds("4y"), 4 * 365.25 * 86400.0) << "a year is the Julian year, 365.25 days";
  EXPECT_DOUBLE_EQ(parse_duration_seconds("1460d"), 1460 * 86400.0);
  EXPECT_DOUBLE_EQ(parse_duration_seconds("90min"), 5400.0);
  EXPECT_THROW(parse_duration_seconds("4"), UnitError) << "a bare number has no unit";
  EXPECT_THROW(parse_duration_seconds("4years"), UnitError) << "the symbol is 'y'";
}

TEST(UnitParser, BytesDistinguishDecimalAndBinaryPrefixes) {
  EXPECT_EQ(parse_bytes("80GiB").count(), 80LL * 1024 * 1024 * 1024);
  EXPECT_EQ(parse_bytes("80GB").count(), 80'000'000'000LL);
  EXPECT_EQ(parse_bytes("1KiB").count(), 1024);
  EXPECT_EQ(parse_bytes("1kB").count(), 1000);
  EXPECT_EQ(parse_bytes("1KB").count(), 1000) << "KB is decimal (1000); KiB is 1024";
  EXPECT_EQ(parse_bytes("1.5KiB").count(), 1536);
  EXPECT_EQ(parse_bytes("0.5MiB").count(), 512 * 1024);
}

TEST(UnitParser, BandwidthBitsVersusBytes) {
  EXPECT_EQ(parse_bandwidth("400Gbps").value(), 50e9) << "400 Gbit/s = 50 GB/s exactly";
  EXPECT_EQ(parse_bandwidth("50GBps").value(), 50e9);
  EXPECT_EQ(parse_bandwidth("50GB/s").value(), 50e9);
  EXPECT_EQ(parse_bandwidth("800Gb/s").value(), 100e9);
  EXPECT_EQ(parse_bandwidth("3.35TBps").value(), 3.35e12);
  EXPECT_EQ(parse_bandwidth("1GiBps").value(), 1073741824.0);
}

TEST(UnitParser, FlopsAndRates) {
  EXPECT_EQ(parse_flop_rate("989TFLOPS").value(), 989e12);
  EXPECT_EQ(parse_flop_rate("989.4TFLOP/s").value(), 989.4e12);
  EXPECT_EQ(parse_flops("3.2PFLOP").value(), 3.2e15);
  EXPECT_EQ(parse_power("700W").value(), 700.0);
  EXPECT_EQ(parse_power("1.2kW").value(), 1200.0);
}

TEST(UnitParser, DecimalMantissaIsCorrectlyRounded) {
  // 1.6 TB/s must be the double nearest 1.6e12, not 1.6 * 1e12 rounded twice.
  EXPECT_EQ(parse_bandwidth("1.6TBps").value(), 1.6e12);
  EXPECT_EQ(parse_flop_rate("0.1PFLOPS").value(), 1e14);
}

void expect_rejected(std::string_view text, const std::string& fragment, Duration (*parse)(std::string_view)) {
  try {
    parse(text);
    FAIL() << "'" << text << "' was accepted; expected an error containing '" << fragment << "'";
  } catch (const UnitError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "error for '" << text << "' was: " << e.what() << "\nexpected it to contain: " << fragment;
  }
}

TEST(UnitParser, RejectsMissingUnitNegativeNaNAndGarbage) {
  EXPECT_THROW(parse_bandwidth("400"), UnitError) << "a bare number has no unit";
  EXPECT_THROW(parse_bandwidth("-5GBps"), UnitError) << "negative bandwidth";
  EXPECT_THROW(parse_bandwidth("NaN"), UnitError);
  EXPECT_THROW(parse_bandwidth("nanGBps"), UnitError);
  EXPECT_THROW(parse_bandwidth("infGBps"), UnitError);
  EXPECT_THROW(parse_bandwidth(""), UnitError);
  EXPECT_THROW(parse_bandwidth("GBps"), UnitError);
  EXPECT_THROW(parse_bandwidth("5  GBps"), UnitError) << "only one space is allowed";
  EXPECT_THROW(parse_bandwidth("5GiBps "), UnitError);
  EXPECT_THROW(parse_bandwidth("1e999GBps"), UnitError) << "overflow to infinity";
  EXPECT_THROW(parse_bytes("1.5B"), UnitError) << "not a whole number of bytes";
  EXPECT_THROW(parse_bytes("9EiB"), UnitError) << "unknown unit (no exbi prefix)";
  EXPECT_THROW(parse_bytes("16EB"), UnitError) << "beyond int64";
  expect_rejected("400", "missing unit", parse_duration);
  expect_rejected("0.5ps", "not a whole number of picoseconds", parse_duration);
  expect_rejected("-1ms", "negative", parse_duration);
  expect_rejected("5sec", "unknown unit 'sec'", parse_duration);
  expect_rejected("5Ms", "did you mean 'ms'?", parse_duration);
  expect_rejected("200000h", "out of range", parse_duration);
}

TEST(UnitParser, UnitErrorIsAnInputError) {
  EXPECT_THROW(parse_power("5"), InputError) << "the CLI maps InputError to exit code 2";
}

TEST(UnitFormat, RoundTripsExactly) {
  for (const char* s : {"1.5us", "2ms", "1ps", "3s", "999ns", "1.000001ms"}) {
    const Duration d = parse_duration(s);
    EXPECT_EQ(parse_duration(format_duration(d)), d) << s << " printed as " << format_duration(d);
  }
  EXPECT_EQ(format_duration(parse_duration("1.5us")), "1.5us");
  EXPECT_EQ(format_duration(Duration::zero()), "0ps");
  for (const char* s : {"80GiB", "80GB", "1.5KiB", "123B", "1000001B"}) {
    const Bytes b = parse_bytes(s);
    EXPECT_EQ(parse_bytes(format_bytes(b)), b) << s << " printed as " << format_bytes(b);
  }
  EXPECT_EQ(format_bytes(parse_bytes("80GiB")), "80GiB");
  EXPECT_EQ(format_bytes(parse_bytes("80GB")), "80GB");
  for (const char* s : {"400Gbps", "3.35TBps", "1.6TBps", "123.456MBps", "1GiBps"}) {
    const Bandwidth b = parse_bandwidth(s);
    EXPECT_EQ(parse_bandwidth(format_bandwidth(b)).value(), b.value()) << s << " printed as " << format_bandwidth(b);
  }
  EXPECT_EQ(format_bandwidth(parse_bandwidth("400Gbps")), "50GBps");
  EXPECT_EQ(format_flop_rate(parse_flop_rate("989.4TFLOPS")), "989.4TFLOPS");
  EXPECT_EQ(format_power(parse_power("700W")), "700W");
  EXPECT_EQ(format_flops(parse_flops("3.2PFLOP")), "3.2PFLOP");
}

TEST(UnitArithmetic, CrossTypeOperations) {
  // One 1 GB message on a 50 GB/s link: 20 ms.
  EXPECT_EQ(Bytes(1'000'000'000) / Bandwidth(50e9), Duration::from_ms(20));
  // 989 TFLOP at 989 TFLOP/s: 1 s.
  EXPECT_EQ(Flops(989e12) / FlopRate(989e12), Duration::from_ms(1000));
  EXPECT_DOUBLE_EQ((Bytes(1000) / Duration::from_us(1)).value(), 1e9);
}

}  // namespace
}  // namespace mfusim::core
