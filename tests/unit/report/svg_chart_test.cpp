#include "report/svg_chart.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/report/xml_check.hpp"

namespace mfusim::report {
namespace {

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

LineChart two_series() {
  LineChart c;
  c.title = "llama: MFU vs <bandwidth> & co";
  c.x_label = "cluster.scale_out.nic_bandwidth (Gbps)";
  c.y_label = "step time (s)";
  c.legend_title = "parallel.pp";
  c.series = {{"2", {{100, 5.1}, {200, 4.9}, {400, std::nullopt}, {800, 4.7}}},
              {"4", {{100, 5.3}, {200, 5.0}, {400, 4.8}, {800, 4.75}}}};
  c.footnotes = {"1 of 8 points not plotted: pp=2, nic_bandwidth=400Gbps (does-not-fit)"};
  return c;
}

TEST(NiceTicks, StepsAreOneTwoOrFiveTimesAPowerOfTen) {
  EXPECT_EQ(nice_ticks(0, 10), (std::vector<double>{0, 2, 4, 6, 8, 10})) << "10/5 = 2: a step of 2";
  EXPECT_EQ(nice_ticks(50, 1250), (std::vector<double>{0, 200, 400, 600, 800, 1000, 1200, 1400}))
      << "1200/5 = 240 rounds to 200; the ticks cover 50..1250 from the multiple below to the one above";
  const auto mfu = nice_ticks(0.2169, 0.4312);
  ASSERT_EQ(mfu.size(), 6u) << "0.2144/5 = 0.043 rounds to 0.05: 0.2 .. 0.45";
  EXPECT_DOUBLE_EQ(mfu.front(), 0.2);
  EXPECT_DOUBLE_EQ(mfu.back(), 0.45);
  const auto tenths = nice_ticks(0.3, 0.7);
  ASSERT_EQ(tenths.size(), 5u) << "0.3 / 0.1 = 2.9999999999999996 in doubles must not add a tick at 0.2";
  EXPECT_NEAR(tenths.front(), 0.3, 1e-12);
  EXPECT_NEAR(tenths.back(), 0.7, 1e-12);
  const auto flat = nice_ticks(5, 5);
  EXPECT_LE(flat.front(), 4.5) << "a single value is widened by 10% so it sits inside the axis";
  EXPECT_GE(flat.back(), 5.5);
  const auto zero = nice_ticks(0, 0);
  EXPECT_EQ(zero.front(), -1.0) << "0 alone is widened to -1..1";
  EXPECT_EQ(zero.back(), 1.0);
}

TEST(NiceTicks, LabelsUseTheStepsDecimalsAndSiSuffixes) {
  EXPECT_EQ(tick_labels({0.2, 0.25, 0.3}), (std::vector<std::string>{"0.2", "0.25", "0.3"}));
  EXPECT_EQ(tick_labels({0, 200, 400}), (std::vector<std::string>{"0", "200", "400"}));
  EXPECT_EQ(tick_labels({860000, 880000, 900000}), (std::vector<std::string>{"860k", "880k", "900k"}));
  EXPECT_EQ(tick_labels({0, 2e10, 4e10}), (std::vector<std::string>{"0", "20G", "40G"}));
  EXPECT_EQ(tick_labels({0, 2500, 5000}), (std::vector<std::string>{"0", "2500", "5000"})) << "no suffix below 10,000";
}

TEST(SvgChart, IsWellFormedXmlWithTitleAxisLabelsAndLegend) {
  const std::string svg = render_svg(two_series());
  EXPECT_EQ(test::xml_problem(svg), "") << svg;
  EXPECT_NE(svg.find("<title>llama: MFU vs &lt;bandwidth&gt; &amp; co</title>"), std::string::npos)
      << "the SVG <title> holds the escaped title";
  EXPECT_NE(svg.find("class=\"title\""), std::string::npos) << "the title is drawn too";
  EXPECT_NE(svg.find(">cluster.scale_out.nic_bandwidth (Gbps)</text>"), std::string::npos) << "x label with its unit";
  EXPECT_NE(svg.find(">step time (s)</text>"), std::string::npos) << "y label with its unit";
  const auto legend = svg.find("<g class=\"legend\">");
  ASSERT_NE(legend, std::string::npos);
  EXPECT_NE(svg.find(">parallel.pp</text>", legend), std::string::npos) << "legend title";
  EXPECT_NE(svg.find(">2</text>", legend), std::string::npos) << "legend entry of series 2";
  EXPECT_NE(svg.find(">4</text>", legend), std::string::npos) << "legend entry of series 4";
  EXPECT_NE(svg.find("class=\"footnote\""), std::string::npos);
}

TEST(SvgChart, AMissingPointBreaksTheLineAndDrawsNoMarker) {
  const std::string svg = render_svg(two_series());
  // Series "2": (100, 200) then a gap, then 800 alone: one polyline; series "4": one polyline of 4.
  EXPECT_EQ(count(svg, "<polyline"), 2u);
  // Markers: 3 + 4 in the plot, one per series in the legend; series 0 uses circles, series 1 squares.
  EXPECT_EQ(count(svg, "<circle"), 3u + 1u);
  EXPECT_EQ(count(svg, "width=\"8\" height=\"8\""), 4u + 1u);
}

TEST(SvgChart, CategoricalAxisLabelsEveryCategory) {
  LineChart c = two_series();
  c.x_categories = {"gpipe", "1f1b", "interleaved", "zb-h1"};
  for (auto& s : c.series) {
    for (std::size_t i = 0; i < s.points.size(); ++i) s.points[i].x = static_cast<double>(i);
  }
  const std::string svg = render_svg(c);
  EXPECT_EQ(test::xml_problem(svg), "");
  for (const char* cat : {">gpipe<", ">1f1b<", ">interleaved<", ">zb-h1<"})
    EXPECT_NE(svg.find(cat), std::string::npos) << cat;
}

TEST(SvgChart, OutputIsDeterministicAndEmptyChartsStillRender) {
  EXPECT_EQ(render_svg(two_series()), render_svg(two_series()));
  LineChart empty;
  empty.title = "nothing feasible";
  empty.series = {{"a", {{1, std::nullopt}, {2, std::nullopt}}}};
  const std::string svg = render_svg(empty);
  EXPECT_EQ(test::xml_problem(svg), "");
  EXPECT_EQ(count(svg, "<polyline"), 0u);
}

TEST(XmlCheck, RejectsWhatIsNotWellFormed) {
  EXPECT_EQ(test::xml_problem("<a><b/></a>"), "");
  EXPECT_NE(test::xml_problem("<a><b></a>"), "");
  EXPECT_NE(test::xml_problem("<a x=\"1\" x=\"2\"/>"), "");
  EXPECT_NE(test::xml_problem("<a>1 < 2</a>"), "");
  EXPECT_NE(test::xml_problem("<a>&nbsp;</a>"), "");
  EXPECT_NE(test::xml_problem("<a/><b/>"), "");
  EXPECT_NE(test::xml_problem("<a x=1/>"), "");
}

}  // namespace
}  // namespace mfusim::report
