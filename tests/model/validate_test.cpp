// `mfusim validate` on the published runs (tests/data/validation/published-runs.yaml, a copy of
// ../shared/validation/published-runs.yaml): a fast subset in every run, the whole set under the `slow`
// label. Thresholds are stated here and in docs/validation.md; a regression in any model shows up.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "scenario/published_runs.hpp"

namespace mfusim::scenario {
namespace {

const std::filesystem::path kRuns = std::filesystem::path(MFUSIM_SOURCE_DIR) / "tests/data/validation/published-runs.yaml";

TEST(Validate, FastSubsetStaysAccurate) {
  // Eight runs across sources, GPUs, models and plans (high confidence except the MoE one), chosen for
  // speed, not for their errors.
  const std::vector<std::string> ids{"sc21-t1-gpt-18.4B",          "kor22-175B-full-recompute",
                                     "kor22-22B-full-recompute",   "dgxc-gpt3-175B-bf16-128xH100",
                                     "dgxc-nemotron4-340B-bf16-256xH100", "mosaic-mpt13b-512xH100",
                                     "megatron-readme-h100-weak-462B",    "mcore-mixtral-8x7B-64xH100"};
  const auto report = validate_published_runs(kRuns, ids);
  ASSERT_EQ(report.rows.size(), ids.size());
  for (const auto& r : report.rows) EXPECT_EQ(r.status, "ok") << r.id << ": " << r.reason;
  EXPECT_LT(report.mape_pct, 10.0) << "mean absolute step-time error over the fast subset grew past 10% (7.3% when set)";
}

TEST(ValidateSlow, WholeSetIsSimulatedAndReported) {
  const auto report = validate_published_runs(kRuns);
  std::size_t unsupported = 0;
  for (const auto& r : report.rows) unsupported += r.status == "unsupported" ? 1U : 0U;
  EXPECT_LE(static_cast<double>(unsupported), 0.05 * static_cast<double>(report.rows.size())) << "at most 5% unsupported";
  EXPECT_LT(report.mape_pct, 15.0) << "mean absolute step-time error over all published runs grew past 15% (13.3% when set)";
  double high = 0.0;
  std::size_t n_high = 0;
  for (const auto& r : report.rows) {
    if (r.status != "ok" || r.confidence != "high") continue;
    high += std::fabs(r.error_pct);
    ++n_high;
  }
  ASSERT_GT(n_high, 0U);
  EXPECT_LT(high / static_cast<double>(n_high), 8.5) << "high-confidence rows' mean absolute error grew past 8.5% (7.2% when set)";
  std::printf("%s", format_validation(report).c_str());
}

}  // namespace
}  // namespace mfusim::scenario
