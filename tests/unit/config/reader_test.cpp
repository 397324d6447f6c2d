#include "config/reader.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "config/loader.hpp"
#include "config/overrides.hpp"

namespace mfusim::config {
namespace {

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Reader, TypedValuesAndDefaults) {
  const Node n = parse_text("nodes: 4\nbw: 400Gbps\nlat: 1.5us\nname: x\nflag: true\nratio: 0.5\n", "t.yaml");
  ResolvedConfig resolved;
  Reader r(n, "", &resolved);
  EXPECT_EQ(r.required<int>("nodes"), 4);
  EXPECT_EQ(r.required<core::Bandwidth>("bw").value(), 50e9);
  EXPECT_EQ(r.required<core::Duration>("lat").ps(), 1'500'000);
  EXPECT_EQ(r.required<std::string>("name"), "x");
  EXPECT_TRUE(r.required<bool>("flag"));
  EXPECT_EQ(r.required<double>("ratio"), 0.5);
  EXPECT_EQ(r.optional<core::Bytes>("memory", core::Bytes(1024)).count(), 1024);
  EXPECT_FALSE(r.maybe<int>("absent").has_value());
  r.finish();
  const std::string dumped = to_yaml(resolved.to_node());
  EXPECT_NE(dumped.find("bw: 50GBps"), std::string::npos) << "resolved values are canonical:\n" << dumped;
  EXPECT_NE(dumped.find("memory: 1KiB"), std::string::npos) << "defaults are part of the resolved config:\n" << dumped;
}

TEST(Reader, UnknownKeySuggestsTheClosestKnownKey) {
  const Node n = parse_text("nodes: 4\nnic_bandwith: 400Gbps\n", "c.yaml");
  Reader r(n, "cluster", nullptr);
  r.required<int>("nodes");
  r.maybe<core::Bandwidth>("nic_bandwidth");
  EXPECT_EQ(error_of([&] { r.finish(); }),
            "c.yaml:2:1: cluster.nic_bandwith: unknown key 'nic_bandwith' (did you mean 'nic_bandwidth'?); "
            "valid keys here: nic_bandwidth, nodes");
}

TEST(Reader, ValueWithoutUnitIsAnErrorAtTheValue) {
  const Node n = parse_text("link:\n  bandwidth: 400\n", "u.yaml");
  Reader r(n, "", nullptr);
  Reader link = r.mapping("link");
  EXPECT_EQ(error_of([&] { link.required<core::Bandwidth>("bandwidth"); }),
            "u.yaml:2:14: link.bandwidth: '400' is not a bandwidth: missing unit (write e.g. 400Gbps or 50GBps; "
            "units: bits/s: bps Kbps Mbps Gbps Tbps (or Gb/s); bytes/s: Bps kBps MBps GBps TBps (or GB/s), "
            "KiBps MiBps GiBps TiBps)");
}

TEST(Reader, WrongTypesAndRanges) {
  const Node n = parse_text("a: four\nb: [1]\nc: 1e99999\nd: yes\ne: 99999999999\nf: .nan\n", "w.yaml");
  Reader r(n, "", nullptr);
  EXPECT_EQ(error_of([&] { r.required<int>("a"); }), "w.yaml:1:4: a: 'four' is not a whole number");
  EXPECT_EQ(error_of([&] { r.required<int>("b"); }), "w.yaml:2:4: b: expected a whole number, found a list");
  EXPECT_EQ(error_of([&] { r.required<double>("c"); }), "w.yaml:3:4: c: '1e99999' is out of range");
  EXPECT_EQ(error_of([&] { r.required<bool>("d"); }), "w.yaml:4:4: d: 'yes' is not a boolean (valid: true, false)");
  EXPECT_EQ(error_of([&] { r.required<int>("e"); }), "w.yaml:5:4: e: '99999999999' is out of range (at most 2147483647)");
  EXPECT_EQ(error_of([&] { r.required<double>("f"); }), "w.yaml:6:4: f: '.nan' is not a number");
}

TEST(Reader, MissingKeyPointsAtTheMappingAndSpotsTypos) {
  const Node n = parse_text("w:\n  stagez: 4\n", "m.yaml");
  Reader r(n, "", nullptr);
  Reader w = r.mapping("w");
  EXPECT_EQ(error_of([&] { w.required<int>("stages"); }),
            "m.yaml:2:3: w: missing required key 'stages' (is 'stagez' at line 2 a typo of it?)");
}

enum class Color { kRed, kGreen };
constexpr std::array<Choice<Color>, 2> kColors{{{"red", Color::kRed, ""}, {"green", Color::kGreen, ""}}};

TEST(Reader, ChoicesListValidNames) {
  const Node n = parse_text("color: gren\n", "e.yaml");
  Reader r(n, "", nullptr);
  EXPECT_EQ(error_of([&] { r.choice<Color>("color", kColors); }),
            "e.yaml:1:8: color: unknown value 'gren' (did you mean 'green'?); valid: red, green");
  const Node ok = parse_text("other: 1\n", "e.yaml");
  Reader r2(ok, "", nullptr);
  EXPECT_EQ(r2.choice<Color>("color", kColors, Color::kGreen), Color::kGreen);
}

TEST(Overrides, SetReplacesCreatesAndIndexes) {
  Node n = parse_text("a:\n  b: 1\nlist:\n  - x: 1\n  - x: 2\n", "o.yaml");
  apply_override(n, "a.b=7");
  apply_override(n, "a.c=400Gbps");
  apply_override(n, "list.1.x=9");
  apply_override(n, "new.deep.key=[1, 2]");
  Reader r(n, "", nullptr);
  Reader a = r.mapping("a");
  EXPECT_EQ(a.required<int>("b"), 7);
  EXPECT_EQ(a.required<core::Bandwidth>("c").value(), 50e9);
  EXPECT_EQ(r.mappings("list")[1].required<int>("x"), 9);
  EXPECT_EQ(r.mapping("new").mapping("deep").list<int>("key"), (std::vector<int>{1, 2}));
}

TEST(Overrides, ErrorsNameTheOverride) {
  Node n = parse_text("a: 1\nl: [1]\n", "o.yaml");
  EXPECT_EQ(error_of([&] { apply_override(n, "a.b=2"); }),
            "(--set a.b=2): a.b: 'a' is a single value, so it has no key 'b'");
  EXPECT_EQ(error_of([&] { apply_override(n, "l.5=2"); }),
            "(--set l.5=2): l.5: 'l' is a list of 1 items; '5' is not an index into it");
  EXPECT_EQ(error_of([&] { apply_override(n, "novalue"); }),
            "(--set novalue): expected key.path=value, e.g. --set cluster.nodes=4");
  apply_override(n, "typo=3");
  Reader r(n, "", nullptr);
  r.required<int>("a");
  r.list<int>("l");
  EXPECT_EQ(error_of([&] { r.finish(); }), "(--set typo=3): typo: unknown key 'typo'; valid keys here: a, l");
}

}  // namespace
}  // namespace mfusim::config
