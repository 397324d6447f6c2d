// mfusim's single-GPU step predictions against the steps measured on a real H100
// (workloads/calibration/h100-sxm5-80gb/training_steps.yaml). The table is printed on every run; the
// documented results are in docs/validation.md.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "compute/kernel_cost_model.hpp"
#include "hardware/catalog.hpp"
#include "workload/ground_truth.hpp"

namespace mfusim::workload {
namespace {

TEST(SingleGpuGroundTruth, PredictionsAgainstMeasuredH100Steps) {
  const auto catalog = hardware::Catalog::load(hardware::Catalog::default_dir());
  const auto& gpu = catalog.gpu("H100-SXM5-80GB");
  const auto cost = compute::KernelCostModel::for_gpu(catalog, gpu, compute::KernelCostModel::default_calibration_dir());
  ASSERT_FALSE(cost.scaled()) << "the H100 tables must be measured, not scaled";
  const auto runs = load_measured_steps(compute::KernelCostModel::default_calibration_dir() / "h100-sxm5-80gb" / "training_steps.yaml");
  const auto dir = compute::KernelCostModel::default_calibration_dir() / "h100-sxm5-80gb";
  const auto host = fit_host_overheads(dir / "host_probes.yaml");
  ASSERT_EQ(host.size(), 4u) << "host-overhead fits for gpt and llama, with and without recompute";
  for (const auto& h : host) {
    std::printf("host overhead %s recompute=%d: %.2f ms per layer + %.2f ms\n", h.family.c_str(), static_cast<int>(h.recompute),
                h.per_layer_s * 1e3, h.fixed_s * 1e3);
  }
  const auto rows = compare_single_gpu(runs, cost, host);
  ASSERT_GE(rows.size(), 30u);
  std::printf("%-28s %10s %10s %10s %8s %10s %10s %8s\n", "run", "meas ms", "pred ms", "(host ms)", "err", "meas GiB", "pred GiB", "err");
  double abs_time = 0, abs_mem = 0;
  for (const auto& r : rows) {
    std::printf("%-28s %10.2f %10.2f %10.2f %+7.1f%% %10.2f %10.2f %+7.1f%%\n", r.measured.id.c_str(), r.measured.step_time_s * 1e3,
                r.predicted.step_time.seconds() * 1e3, r.predicted.host_time.seconds() * 1e3, 100 * r.time_error, r.measured.peak_allocated_gib,
                r.predicted.memory.total_bytes / (1024.0 * 1024 * 1024), 100 * r.memory_error);
    abs_time += std::fabs(r.time_error);
    abs_mem += std::fabs(r.memory_error);
  }
  const double mape_time = 100 * abs_time / static_cast<double>(rows.size());
  const double mape_mem = 100 * abs_mem / static_cast<double>(rows.size());
  std::printf("mean absolute error: step time %.1f%%, peak memory %.1f%% over %zu runs\n", mape_time, mape_mem, rows.size());
  RecordProperty("mape_time_pct", std::to_string(mape_time));
  RecordProperty("mape_memory_pct", std::to_string(mape_mem));
  // Thresholds over the whole set (docs/validation.md lists every row): a regression in the compute or
  // memory model shows up here. Time errors near the host/GPU crossover reach ~20% (the max() of the
  // two is optimistic where both are close), so the per-row bound is looser than the mean.
  EXPECT_LT(mape_time, 8.0) << "mean absolute step-time error grew";
  EXPECT_LT(mape_mem, 6.0) << "mean absolute peak-memory error grew";
  for (const auto& r : rows) {
    EXPECT_LT(std::fabs(r.time_error), 0.25) << r.measured.id;
    EXPECT_LT(std::fabs(r.memory_error), 0.15) << r.measured.id << ": peak memory within 15%";
  }
}

}  // namespace
}  // namespace mfusim::workload
