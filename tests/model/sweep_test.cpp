// mfusim sweep (cli/sweep.hpp) on the quick-start scenario (Llama 3.1 8B on one DGX H100, 8 GPUs):
// grid order, infeasible points as rows, byte-identical output whatever the thread count, and the
// chart built from the rows.
#include "cli/sweep.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.hpp"
#include "report/csv.hpp"
#include "report/svg_chart.hpp"
#include "unit/report/xml_check.hpp"

namespace mfusim::cli {
namespace {

const std::string kQuickstart = std::string(MFUSIM_SOURCE_DIR) + "/scenarios/quickstart.yaml";

SweepSpec quickstart_spec(std::vector<std::string> axes, unsigned threads) {
  SweepSpec s;
  s.scenario = kQuickstart;
  for (const auto& a : axes) s.axes.push_back(parse_axis(a));
  s.threads = threads;
  return s;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SweepAxis, SplitsValuesAtCommasOutsideBrackets) {
  const auto a = parse_axis("cluster.scale_out.nic_bandwidth=400Gbps, 800Gbps,1.6Tbps");
  EXPECT_EQ(a.key, "cluster.scale_out.nic_bandwidth");
  EXPECT_EQ(a.values, (std::vector<std::string>{"400Gbps", "800Gbps", "1.6Tbps"}));
  EXPECT_EQ(parse_axis("x.list=[1,2],[3]").values, (std::vector<std::string>{"[1,2]", "[3]"}));
  EXPECT_NE(error_of([] { parse_axis("parallel.tp"); }).find("expected key.path=value1,value2"), std::string::npos);
  EXPECT_NE(error_of([] { parse_axis("=1,2"); }).find("the key before '=' is empty"), std::string::npos);
  EXPECT_NE(error_of([] { parse_axis("parallel.tp=1,,2"); }).find("empty value"), std::string::npos);
}

TEST(SweepGrid, CartesianProductWithTheFirstAxisSlowestOrZipPairs) {
  const std::vector<SweepAxis> axes = {{"a", {"1", "2"}}, {"b", {"x", "y", "z"}}};
  const auto grid = sweep_grid(axes, false);
  ASSERT_EQ(grid.size(), 6u) << "2 x 3 points";
  EXPECT_EQ(grid[0], (std::vector<std::string>{"1", "x"}));
  EXPECT_EQ(grid[2], (std::vector<std::string>{"1", "z"}));
  EXPECT_EQ(grid[3], (std::vector<std::string>{"2", "x"}));
  const std::vector<SweepAxis> pairs = {{"a", {"1", "2"}}, {"b", {"x", "y"}}};
  EXPECT_EQ(sweep_grid(pairs, true), (std::vector<std::vector<std::string>>{{"1", "x"}, {"2", "y"}}));
  EXPECT_EQ(error_of([&] { sweep_grid(axes, true); }),
            "--zip: axis b has 3 values but a has 2 (zipped axes pair values one to one)");
  EXPECT_NE(error_of([] {
              sweep_grid({{"a", {"1"}}, {"a", {"2"}}}, false);
            }).find("already has an axis"),
            std::string::npos);
}

TEST(SweepAxisNumbers, ParsesValuesInTheUnitOfTheFirst) {
  std::string unit;
  const auto bw = axis_numbers({"100Gbps", "400Gbps", "1.6Tbps"}, unit);
  ASSERT_TRUE(bw.has_value());
  EXPECT_EQ(unit, "Gbps");
  EXPECT_EQ(*bw, (std::vector<double>{100, 400, 1600})) << "1.6Tbps is 1600 Gbps";
  const auto t = axis_numbers({"1ms", "500us"}, unit);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, (std::vector<double>{1, 0.5}));
  EXPECT_EQ(*axis_numbers({"1", "2.5"}, unit), (std::vector<double>{1, 2.5}));
  EXPECT_EQ(unit, "");
  EXPECT_FALSE(axis_numbers({"gpipe", "1f1b"}, unit).has_value()) << "names are categories";
  EXPECT_FALSE(axis_numbers({"1ms", "1GiB"}, unit).has_value()) << "mixed dimensions are categories";
  EXPECT_FALSE(axis_numbers({"1", "2GiB"}, unit).has_value());
}

TEST(Sweep, TwoByTwoGivesFourRowsAndReportsTheInfeasiblePoints) {
  // tp = 1 puts all of Llama 3.1 8B's weights, fp32 gradients and activations on each GPU: about
  // 94 GiB > 80 GiB, so both tp = 1 points do not fit; tp = 2 fits at micro-batch 1 and 2.
  const SweepResult r = run_sweep(quickstart_spec({"parallel.tp=1,2", "training.micro_batch=1,2"}, 2));
  ASSERT_EQ(r.points.size(), 4u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r.points[i].status, "does-not-fit") << "tp=1, micro_batch=" << r.points[i].values[1];
    EXPECT_NE(r.points[i].reason.find("the plan does not fit"), std::string::npos) << r.points[i].reason;
    for (const auto& f : r.points[i].fields) EXPECT_FALSE(f.has_value()) << "an infeasible point has no figures";
  }
  const std::size_t step = r.column("step_time_s");
  const std::size_t mfu = r.column("mfu");
  ASSERT_LT(step, r.columns.size());
  ASSERT_LT(mfu, r.columns.size());
  for (std::size_t i = 2; i < 4; ++i) {
    EXPECT_EQ(r.points[i].status, "ok") << r.points[i].reason;
    EXPECT_EQ(r.points[i].reason, "");
    EXPECT_GT(*r.points[i].fields[step], 0.0);
    EXPECT_GT(*r.points[i].fields[mfu], 0.0);
    EXPECT_LT(*r.points[i].fields[mfu], 1.0);
  }
  std::size_t activations = 0;
  for (const auto& c : r.columns) activations += c.name.rfind("memory_activations", 0) == 0;
  EXPECT_EQ(activations, 1u) << "the activations item is one column although its name counts micro-batches";
  EXPECT_LT(r.column("peak_memory_bytes"), r.columns.size());
  EXPECT_LT(r.column("breakdown_compute_s"), r.columns.size());

  const auto rows = report::parse_csv(sweep_csv(r));
  ASSERT_EQ(rows.size(), 5u) << "a header and one row per point";
  EXPECT_EQ(std::vector<std::string>(rows[0].begin(), rows[0].begin() + 5),
            (std::vector<std::string>{"parallel.tp", "training.micro_batch", "status", "reason", "step_time_s"}));
  EXPECT_EQ(rows[0].size(), 4 + r.columns.size());
  EXPECT_EQ(rows[1][2], "does-not-fit");
  EXPECT_NE(rows[1][3].find("GiB per GPU > 80.0 GiB"), std::string::npos) << rows[1][3];
  EXPECT_EQ(rows[3][0], "2");
  EXPECT_EQ(rows[3][2], "ok");
}

TEST(Sweep, OutputIsByteIdenticalWithOneAndTwoThreads) {
  const std::vector<std::string> axes = {"parallel.tp=1,2,4,8", "training.micro_batch=1,2"};
  const SweepResult one = run_sweep(quickstart_spec(axes, 1));
  const SweepResult two = run_sweep(quickstart_spec(axes, 2));
  EXPECT_EQ(sweep_csv(one), sweep_csv(two));
  EXPECT_EQ(sweep_json(one), sweep_json(two));
  EXPECT_EQ(sweep_table(one), sweep_table(two));
  EXPECT_EQ(report::render_svg(sweep_chart(one, {})), report::render_svg(sweep_chart(two, {})));
}

TEST(Sweep, AnUnknownKeyFailsTheWholeSweepWithADidYouMean) {
  const std::string e = error_of([] { run_sweep(quickstart_spec({"parallel.tpp=1,2"}, 2)); });
  EXPECT_NE(e.find("(--axis parallel.tpp=1): parallel.tpp: unknown key 'tpp' (did you mean 'tp'?)"), std::string::npos)
      << e;
}

TEST(Sweep, ChartHasOneSeriesPerValueOfTheSecondAxisAndNotesOmittedPoints) {
  const SweepResult r = run_sweep(quickstart_spec({"parallel.tp=1,2,4", "training.micro_batch=1,2"}, 2));
  const report::LineChart c = sweep_chart(r, {});
  EXPECT_EQ(c.title, "quickstart: MFU (Megatron FLOPs)");
  EXPECT_EQ(c.x_label, "parallel.tp");
  EXPECT_TRUE(c.x_categories.empty()) << "tp values are numbers";
  EXPECT_EQ(c.legend_title, "training.micro_batch");
  ASSERT_EQ(c.series.size(), 2u);
  EXPECT_EQ(c.series[0].label, "1");
  EXPECT_EQ(c.series[1].label, "2");
  ASSERT_FALSE(c.footnotes.empty());
  EXPECT_NE(c.footnotes[0].find("2 of 6 points not plotted: tp=1, micro_batch=1 (does-not-fit)"), std::string::npos)
      << c.footnotes[0];
  EXPECT_EQ(test::xml_problem(report::render_svg(c)), "");

  SweepPlotOptions swapped;
  swapped.y = "step_time_s";
  swapped.x = "training.micro_batch";
  const report::LineChart s = sweep_chart(r, swapped);
  EXPECT_EQ(s.y_label, "step time (s)");
  EXPECT_EQ(s.series.size(), 3u) << "one line per tp";

  SweepPlotOptions bad;
  bad.y = "mfuu";
  const std::string e = error_of([&] { sweep_chart(r, bad); });
  EXPECT_NE(e.find("--y: unknown column 'mfuu' (did you mean 'mfu'?); valid: step_time_s, "), std::string::npos) << e;
}

}  // namespace
}  // namespace mfusim::cli
