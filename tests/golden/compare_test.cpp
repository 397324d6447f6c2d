// `mfusim compare` through the real command line: two one-node scenarios side by side, an infeasible
// plan shown in its column, --set applied to every scenario, JSON/CSV outputs, determinism.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.hpp"
#include "cli/compare_command.hpp"

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

}  // namespace
