// `mfusim compare` through the real command line: two one-node scenarios side by side, an infeasible
// plan shown in its column, --set applied to every scenario, JSON/CSV outputs, --plot, determinism.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.hpp"
#include "cli/compare_command.hpp"
#include "core/error.hpp"
#include "unit/report/xml_check.hpp"

namespace {

const std::filesystem::path kRoot = MFUSIM_SOURCE_DIR;

struct Result {
  int code;
  std::string out, err;
};

Result mfusim(std::vector<std::string> args) {
  args.insert(args.begin(), "mfusim");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int code = mfusim::cli::run_cli(static_cast<int>(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

std::string scenario(const std::string& name) { return (kRoot / "scenarios" / (name + ".yaml")).string(); }

TEST(Compare, TwoDesignsSideBySide) {
  // quickstart (TP2 x DP4, no recompute) against llama3.1-8b-8xh100 (TP1 x DP8, full recompute): same
  // model, batch and node; full recomputation costs ~1/3 more compute, so it is slower and uses more
  // energy per step. --set gives both a price and a token budget.
  const auto r = mfusim({"compare", scenario("quickstart"), scenario("llama3.1-8b-8xh100"), "--set",
                         "cost.gpu_hour_price=2", "--set", "training.tokens_to_train=1e9", "--json", "-", "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["scenarios"].size(), 2U);
  const auto& a = j["scenarios"][0]["result"];
  const auto& b = j["scenarios"][1]["result"];
  EXPECT_EQ(a["scenario"], "quickstart");
  EXPECT_EQ(b["scenario"], "llama3.1-8b-8xh100");
  EXPECT_LT(a["step_time_s"].get<double>(), b["step_time_s"].get<double>()) << "full recompute is slower";
  for (const auto* x : {&a, &b}) {
    // Time to train 1e9 tokens = (1e9 / tokens per step) x step time; cost = 8 GPUs x hours x 2.
    const double steps = 1e9 / (32.0 * 8192);
    EXPECT_NEAR((*x)["time_to_train_s"].get<double>(), steps * (*x)["step_time_s"].get<double>(), 1e-6);
    EXPECT_NEAR((*x)["cost_to_train"].get<double>(), 8 * (*x)["time_to_train_s"].get<double>() / 3600 * 2, 1e-6);
    EXPECT_GT((*x)["energy_per_step_j"].get<double>(), 0.0);
  }
}

TEST(Compare, TableShowsRowsAndWhatDominates) {
  const auto r = mfusim({"compare", scenario("quickstart"), scenario("llama3.1-8b-8xh100"), "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* row : {"step time", "MFU", "tokens/s", "peak memory/GPU", "energy/step", "largest part"}) {
    EXPECT_NE(r.out.find(row), std::string::npos) << "row '" << row << "' missing:\n" << r.out;
  }
  EXPECT_NE(r.out.find("quickstart: compute"), std::string::npos) << "one line per scenario on what dominates:\n" << r.out;
  EXPECT_EQ(r.out, mfusim({"compare", scenario("quickstart"), scenario("llama3.1-8b-8xh100"), "--quiet"}).out)
      << "same inputs, byte-identical output";
}

TEST(Compare, InfeasiblePlanShowsItsReasonInsteadOfAborting) {
  const auto bad = (kRoot / "tests/errors/cases/plan_does_not_fit.yaml").string();
  const auto r = mfusim({"compare", scenario("quickstart"), bad, "--csv", "-", "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(",false,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("the plan does not fit"), std::string::npos) << r.out;
  const auto table = mfusim({"compare", scenario("quickstart"), bad, "--quiet"});
  EXPECT_NE(table.out.find("infeasible: does not fit"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("plan_does_not_fit: cannot run:"), std::string::npos) << table.out;
}

TEST(Compare, DominantPartsAreTheLargestShares) {
  mfusim::report::RunSummary s;
  s.breakdown = {{"compute_s", "compute", 6.0, "s"}, {"bubble_s", "pipeline bubble", 3.0, "s"},
                 {"exposed_dp_s", "exposed dp communication", 1.0, "s"}};
  EXPECT_EQ(mfusim::cli::dominant_parts(s, 2), "compute 60.0%, pipeline bubble 30.0%");
}

TEST(Compare, PlotIsOneMarkerPerScenarioWithAxesFromZero) {
  // Default axes: time to train (days) against cost to train. quickstart is cheaper per token than
  // llama3.1-8b-8xh100 (no recomputation), so its marker is lower and further left; both start at 0.
  const auto svg = (std::filesystem::temp_directory_path() / "mfusim-compare-plot.svg").string();
  const std::vector<std::string> args{"compare", scenario("quickstart"), scenario("llama3.1-8b-8xh100"), "--set",
                                      "cost.gpu_hour_price=2", "--set", "training.tokens_to_train=1e12", "--plot",
                                      svg, "--quiet"};
  const auto r = mfusim(args);
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream f(svg, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(mfusim::test::xml_problem(text), "") << text;
  EXPECT_NE(text.find("<title>cost to train against time to train (days)</title>"), std::string::npos) << text;
  EXPECT_NE(text.find(">time to train (days)</text>"), std::string::npos) << "x label keeps its own unit once";
  EXPECT_NE(text.find(">cost to train (USD)</text>"), std::string::npos) << "y label gets the currency";
  EXPECT_NE(text.find("data-label=\"quickstart\""), std::string::npos) << "one series per scenario";
  EXPECT_NE(text.find("data-label=\"llama3.1-8b-8xh100\""), std::string::npos);
  EXPECT_NE(text.find("\">0</text>"), std::string::npos) << "axes reach 0";
  mfusim(args);
  std::ifstream again(svg, std::ios::binary);
  EXPECT_EQ(text, std::string((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>()))
      << "same inputs, byte-identical chart";
  std::filesystem::remove(svg);
}

TEST(Compare, PlotChartNamesRunsItCannotDrawAndConvertsBytes) {
  std::vector<mfusim::cli::ComparedRun> runs(2);
  runs[0].file = "a.yaml";
  runs[0].summary = mfusim::report::RunSummary{};
  runs[0].summary->scenario = "a";
  runs[0].summary->step_time_ps = 2'000'000'000'000;  // 2 s
  runs[0].summary->metrics = {{"peak_memory_bytes", "peak memory/GPU", 3.0 * 1024 * 1024 * 1024, "B"}};
  runs[1].file = "dir/b.yaml";
  runs[1].infeasible = "the plan does not fit";
  const auto chart = mfusim::cli::comparison_chart(runs, "peak_memory_bytes", "step_time_s");
  ASSERT_EQ(chart.series.size(), 1U);
  EXPECT_DOUBLE_EQ(chart.series[0].points.at(0).x, 3.0) << "bytes are drawn in GiB";
  EXPECT_DOUBLE_EQ(*chart.series[0].points.at(0).y, 2.0) << "step_time_s is plottable though not a metric";
  EXPECT_EQ(chart.x_label, "peak memory/GPU (GiB)");
  EXPECT_EQ(chart.y_label, "step time (s)");
  ASSERT_EQ(chart.footnotes.size(), 1U);
  EXPECT_EQ(chart.footnotes[0], "not drawn: b: the plan does not fit");
  try {
    mfusim::cli::comparison_chart(runs, "cost_to_train", "mfu");
    FAIL() << "an unknown metric must be an input error";
  } catch (const mfusim::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--x cost_to_train: no compared run reports this metric (it needs "
                                         "training.tokens_to_train and a cost: section); valid: step_time_s, "
                                         "peak_memory_bytes"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
