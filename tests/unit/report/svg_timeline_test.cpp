// The SVG timeline writer on hand-made timelines whose bubbles and exposed communication are known.
#include "report/svg_timeline.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "unit/report/xml_check.hpp"

namespace mfusim::report {
namespace {

constexpr std::int64_t kMs = 1'000'000'000;  // ps

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

// One rank: a compute row and a dp row; styles: 0 forward (compute), 1 DP comm, 2 TP comm.
Timeline one_rank() {
  Timeline t;
  t.title = "test <step> & co";
  t.subtitle = "one rank";
  t.end_ps = 4 * kMs;
  t.styles = {{"forward", "#4c78a8", false}, {"DP comm", "#72b7b2", true}, {"TP comm", "#eeca3b", true}};
  t.rows = {{"compute", "GPU 0", 0, true}, {"dp", "", 0, false}};
  return t;
}

TEST(SvgTimeline, IsWellFormedWithTitleAxisLabelsAndLegend) {
  Timeline t = one_rank();
  t.ops = {{0, 0, 0, 2 * kMs, "3", "F3 L0 attention", 0, ""}, {1, 1, 1 * kMs, 3 * kMs, "", "grad-bucket 0", 0, ""}};
  const std::string svg = timeline_svg(t);
  EXPECT_EQ(mfusim::test::xml_problem(svg), "") << svg;
  EXPECT_NE(svg.find("<text id=\"title\" x=\"200.00\" y=\"26\" font-size=\"18\" font-weight=\"bold\">test &lt;step&gt; &amp; co</text>"),
            std::string::npos)
      << "the title, escaped";
  EXPECT_NE(svg.find("id=\"x-axis-label\""), std::string::npos);
  EXPECT_NE(svg.find(">time (ms)</text>"), std::string::npos) << "the x axis names its unit";
  EXPECT_NE(svg.find("id=\"y-axis-label\""), std::string::npos);
  EXPECT_NE(svg.find(">rank / stream</text>"), std::string::npos);
  const auto legend = svg.find("<g id=\"legend\"");
  ASSERT_NE(legend, std::string::npos);
  EXPECT_NE(svg.find(">forward</text>", legend), std::string::npos) << "used styles are in the legend";
  EXPECT_NE(svg.find(">DP comm</text>", legend), std::string::npos);
  EXPECT_EQ(svg.find(">TP comm</text>", legend), std::string::npos) << "unused styles are not";
  EXPECT_NE(svg.find(">bubble (compute idle)</text>", legend), std::string::npos);
  EXPECT_NE(svg.find(">exposed communication</text>", legend), std::string::npos);
  EXPECT_NE(svg.find("<title>F3 L0 attention</title>"), std::string::npos) << "every op has a tooltip";
  EXPECT_EQ(svg, timeline_svg(t)) << "deterministic bytes";
}

TEST(SvgTimeline, MarksBubblesAndExposedCommunication) {
  // Compute [0, 2) ms, DP reduction [1, 3) ms, step 4 ms: the reduction hides behind compute for 1 ms
  // and is exposed for [2, 3); the compute stream then idles with nothing in flight: bubble [3, 4).
  Timeline t = one_rank();
  t.ops = {{0, 0, 0, 2 * kMs, "", "F0", 0, ""}, {1, 1, 1 * kMs, 3 * kMs, "", "grad-bucket 0", 0, ""}};
  const std::string svg = timeline_svg(t);
  EXPECT_NE(svg.find("GPU 0: exposed communication 2.000 to 3.000 ms (1.000 ms)"), std::string::npos) << svg;
  EXPECT_NE(svg.find("GPU 0: communication in flight while compute waits 2.000 to 3.000 ms"), std::string::npos);
  EXPECT_NE(svg.find("GPU 0: bubble (idle) 3.000 to 4.000 ms (1.000 ms)"), std::string::npos);
  EXPECT_EQ(count(svg, "bubble (idle)"), 1u) << "one bubble only";
}

TEST(SvgTimeline, CollectivesOnTheComputeStreamAreExposed) {
  // A TP all-reduce on the compute stream itself (no overlap) [2, 3) ms: the kernels wait for it.
  Timeline t = one_rank();
  t.end_ps = 3 * kMs;
  t.ops = {{0, 0, 0, 2 * kMs, "", "F0 L0 attention", 0, ""}, {0, 2, 2 * kMs, 3 * kMs, "", "F0 L0 attention tp-output", 0, ""}};
  const std::string svg = timeline_svg(t);
  EXPECT_NE(svg.find("GPU 0: exposed communication 2.000 to 3.000 ms"), std::string::npos) << svg;
  EXPECT_EQ(svg.find("bubble (idle)"), std::string::npos) << "no bubble: the stream is never idle";
}

TEST(SvgTimeline, TicksAreRoundMilliseconds) {
  Timeline t = one_rank();
  t.end_ps = 66'800'000'000;  // 66.8 ms: ticks every 10 ms
  t.ops = {{0, 0, 0, t.end_ps, "", "F0", 0, ""}};
  const std::string svg = timeline_svg(t);
  EXPECT_NE(svg.find(">60</text>"), std::string::npos);
  EXPECT_EQ(svg.find(">70</text>"), std::string::npos) << "no tick past the end";
  EXPECT_EQ(svg.find(">5</text>"), std::string::npos) << "10 ms steps, not 5";
}

TEST(SvgTimeline, MergesPassesAboveTheLimitAndRefusesWhatStaysTooLarge) {
  // 6000 touching ops, 10 per micro-batch pass: over the limit, each pass becomes one rectangle.
  Timeline t = one_rank();
  const std::int64_t n = 6000;
  t.end_ps = n * kMs / 1000;
  for (std::int64_t i = 0; i < n; ++i) {
    t.ops.push_back({0, 0, i * kMs / 1000, (i + 1) * kMs / 1000, std::to_string(i / 10), "op", static_cast<std::uint64_t>(i / 10 + 1), "F" + std::to_string(i / 10)});
  }
  const std::string svg = timeline_svg(t);
  EXPECT_EQ(mfusim::test::xml_problem(svg), "");
  const auto ops = svg.substr(svg.find("<g id=\"ops\""), svg.find("</g>", svg.find("<g id=\"ops\"")) - svg.find("<g id=\"ops\""));
  EXPECT_EQ(count(ops, "<rect"), 600u) << "one rectangle per pass";
  EXPECT_NE(svg.find("<title>F0: 10 ops merged, 0.000 to 0.010 ms; forward 0.010 ms</title>"), std::string::npos);

  for (auto& op : t.ops) op.merge_key = 0;
  try {
    timeline_svg(t);
    FAIL() << "6000 ops that cannot be merged are too many to draw";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("6000 rectangles"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--timeline-ranks"), std::string::npos) << "names a way out: " << e.what();
  }
}

}  // namespace
}  // namespace mfusim::report
