// mfusim's single-GPU step predictions against steps measured on a real H100
// (workloads/calibration/h100-sxm5-80gb/): the ground truth of record, run 6 (the 40 configurations and
// the host-overhead probes in one device call, on one host, no profiler in the timing processes), and
// runs 4 and 1 (taken with CUPTI left attached by a profiler: their host-bound rows are biased). The
// tables are printed on every run; the documented results are in docs/validation.md.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "compute/kernel_cost_model.hpp"
#include "hardware/catalog.hpp"
#include "workload/ground_truth.hpp"

namespace mfusim::workload {
namespace {

struct Errors {
  double all_time = 0, gpu_bound_time = 0, memory = 0;  // mean absolute errors, %
  std::size_t rows = 0, gpu_bound = 0;
};

// Prints the table of one measured run against the predictions with its host probes.
// `host_bound_bound`: when given, host-bound rows are held to it too (GPU-bound rows: 15%).
Errors compare_run(const std::string& steps, const std::string& probes, double host_bound_bound = 0.0) {
  const auto catalog = hardware::Catalog::load(hardware::Catalog::default_dir());
  const auto cost = compute::KernelCostModel::for_gpu(catalog, catalog.gpu("H100-SXM5-80GB"), compute::KernelCostModel::default_calibration_dir());
  EXPECT_FALSE(cost.scaled()) << "the H100 tables must be measured, not scaled";
  const auto dir = compute::KernelCostModel::default_calibration_dir() / "h100-sxm5-80gb";
  const auto host = fit_host_overheads(dir / probes);
  EXPECT_EQ(host.size(), 4u) << probes << ": host-overhead fits for gpt and llama, with and without recompute";
  std::printf("== %s, host probes %s\n", steps.c_str(), probes.c_str());
  for (const auto& h : host) {
    std::printf("host overhead %s recompute=%s: %.2f ms per layer + %.2f ms\n", h.family.c_str(), h.recompute == Recompute::kNone ? "none" : "full",
                h.per_layer_s * 1e3, h.fixed_s * 1e3);
  }
  const auto rows = compare_single_gpu(load_measured_steps(dir / steps), cost, host);
  EXPECT_GE(rows.size(), 30u);
  std::printf("%-28s %10s %10s %10s %8s %10s %10s %8s\n", "run", "meas ms", "pred ms", "(host ms)", "err", "meas GiB", "pred GiB", "err");
  Errors e;
  for (const auto& r : rows) {
    const bool host_bound = r.measured.host_bound();
    std::printf("%-28s %10.2f %10.2f %10.2f %+7.1f%% %10.2f %10.2f %+7.1f%%%s\n", r.measured.id.c_str(), r.measured.step_time_s * 1e3,
                r.predicted.step_time.seconds() * 1e3, r.predicted.host_time.seconds() * 1e3, 100 * r.time_error,
                r.measured.peak_allocated_gib, r.predicted.memory.total_bytes / (1024.0 * 1024 * 1024), 100 * r.memory_error,
                host_bound ? "  host-bound" : "");
    e.all_time += std::fabs(r.time_error);
    e.memory += std::fabs(r.memory_error);
    if (!host_bound) {
      e.gpu_bound_time += std::fabs(r.time_error);
      ++e.gpu_bound;
      // The kernel model: every GPU-bound step within 15% (the largest sit at the host/GPU crossover).
      EXPECT_LT(std::fabs(r.time_error), 0.15) << steps << ": " << r.measured.id << " (GPU-bound)";
    } else if (host_bound_bound > 0.0) {
      EXPECT_LT(std::fabs(r.time_error), host_bound_bound) << steps << ": " << r.measured.id << " (host-bound, with probes " << probes << ")";
    }
    EXPECT_LT(std::fabs(r.memory_error), 0.15) << steps << ": " << r.measured.id << ": peak memory within 15%";
  }
  e.rows = rows.size();
  e.all_time *= 100.0 / static_cast<double>(e.rows);
  e.memory *= 100.0 / static_cast<double>(e.rows);
  e.gpu_bound_time *= 100.0 / static_cast<double>(std::max<std::size_t>(1, e.gpu_bound));
  std::printf("mean absolute error: step time %.1f%% (%zu GPU-bound: %.1f%%), peak memory %.1f%% over %zu runs\n", e.all_time,
              e.gpu_bound, e.gpu_bound_time, e.memory, e.rows);
  return e;
}

TEST(SingleGpuGroundTruth, PredictionsAgainstMeasuredH100Steps) {
  // Run 6 is the record (declared so before it was taken): probes, the 40 configurations and the probes
  // again in one device call, with no profiler in the timing processes. Runs 1-5 profiled one step after
  // each configuration, and Kineto left CUPTI attached (pytorch/pytorch issue 144455), slowing the host
  // side of every later configuration of the process (docs/validation.md). Host-bound steps (host enqueue
  // >= 80% of the step) depend on the probes, whose timings still spread by up to 30% between the probes
  // before and after the steps, so they carry a looser per-row bound than the GPU-bound rows.
  const Errors record = compare_run("training_steps_run6.yaml", "host_probes_run6.yaml", 0.20);
  RecordProperty("mape_time_pct", std::to_string(record.all_time));
  RecordProperty("mape_memory_pct", std::to_string(record.memory));
  EXPECT_LT(record.gpu_bound_time, 4.0) << "GPU-bound steps: mean absolute step-time error grew (3.0% when set)";
  EXPECT_LT(record.all_time, 5.0) << "all steps: mean absolute step-time error grew (4.2% when set)";
  EXPECT_LT(record.memory, 6.0) << "mean absolute peak-memory error grew (4.2% when set)";
  // The same steps against the probes taken after them: the host fit moves, the kernel model does not.
  const Errors after = compare_run("training_steps_run6.yaml", "host_probes_run6_after.yaml", 0.20);
  EXPECT_LT(after.all_time, 5.0) << "run 6 with the later probes: mean absolute step-time error grew (3.5% when set)";
  // Earlier runs, CUPTI-biased on the host side: only their GPU-bound rows are held to a bound.
  const Errors run4 = compare_run("training_steps_run4.yaml", "host_probes_run4.yaml");
  EXPECT_LT(run4.gpu_bound_time, 5.0) << "run 4, GPU-bound steps: mean absolute step-time error grew";
  const Errors first = compare_run("training_steps.yaml", "host_probes.yaml");
  EXPECT_LT(first.gpu_bound_time, 5.0) << "run 1, GPU-bound steps: mean absolute step-time error grew";
}

// The class of a profiled kernel, as workloads/calibration/summarize_kernel_profile.py sorts them.
std::string kernel_class(std::string name) {
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name.rfind("nvjet", 0) == 0 || name.find("gemm") != std::string::npos || name.rfind("sm90_xmma", 0) == 0) return "gemm";
  if (name.find("flash") != std::string::npos || name.find("fmha") != std::string::npos) return "attention";
  return "memory";
}

TEST(SingleGpuGroundTruth, KernelClassesOfProfiledSteps) {
  // Run 5 (docs/validation.md, "Kernel classes"): one extra step of seven configurations profiled phase
  // by phase. Prints, per phase, the profiled and predicted time of GEMMs, attention and memory-bound
  // kernels (predicted: the kernel times of single_gpu_step's ops by kind; the recomputation counts in
  // the backward). The documented table is this output. Checked: the profile is consistent with the
  // timed steps of the same call (kernel sums at most 10% below the timed phases, which add launch gaps),
  // and no class is off by more than 55% (the largest today: +51%, the forward memory-bound kernels of
  // gpt-350m; a larger one is a regression).
  const auto catalog = hardware::Catalog::load(hardware::Catalog::default_dir());
  const auto cost = compute::KernelCostModel::for_gpu(catalog, catalog.gpu("H100-SXM5-80GB"), compute::KernelCostModel::default_calibration_dir());
  const auto dir = compute::KernelCostModel::default_calibration_dir() / "h100-sxm5-80gb";
  std::map<std::string, MeasuredStep> steps;
  for (const auto& r : load_measured_steps(dir / "training_steps_profile_run5.yaml")) steps[r.id] = r;
  std::ifstream in(dir / "kernel_profile_run5.json");
  ASSERT_TRUE(in.good()) << "kernel_profile_run5.json missing";
  const auto doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc.at("profiles").size(), 7u);
  std::printf("%-26s %-9s %16s %16s %16s\n", "run", "phase", "GEMM ms", "attention ms", "memory ms");
  for (const auto& prof : doc.at("profiles")) {
    const std::string id = prof.at("id");
    ASSERT_TRUE(steps.count(id)) << id;
    const MeasuredStep& r = steps.at(id);
    std::map<std::string, double> predicted;  // "forward gemm" -> ms
    for (const Op& op : single_gpu_step(r.model, {r.micro_batch, r.model.seq_length}, 1, r.recompute,
                                        kAdamBytesPerParameterFp32Params, true)) {
      const std::string phase = op.phase == Phase::kForward ? "forward" : op.phase == Phase::kOptimizer ? "optimizer" : "backward";
      const std::string cls = op.kernel.kind == compute::KernelKind::kGemm        ? "gemm"
                              : op.kernel.kind == compute::KernelKind::kAttention ? "attention"
                                                                                  : "memory";
      predicted[phase + " " + cls] += cost.time(op.kernel).seconds() * 1e3;
    }
    for (const auto& [phase, v] : prof.at("phases").items()) {
      std::map<std::string, double> measured;
      for (const auto& k : v.at("kernels")) measured[kernel_class(k.at(0).get<std::string>())] += k.at(2).get<double>() * 1e-3;
      const double total = v.at("total_us").get<double>() * 1e-3;
      const double timed_ms = 1e3 * (phase == "forward" ? r.fwd_time_s : phase == "backward" ? r.bwd_time_s : r.optimizer_time_s);
      EXPECT_GT(total, 0.9 * timed_ms) << id << " " << phase << ": profiled kernels " << total << " ms against " << timed_ms
                                       << " ms timed: the profile does not describe the timed steps";
      EXPECT_LE(total, 1.02 * timed_ms) << id << " " << phase;
      char line[256];
      std::snprintf(line, sizeof line, "%-26s %-9s", id.c_str(), phase.c_str());
      std::string out = line;
      for (const char* cls : {"gemm", "attention", "memory"}) {
        const double m = measured[cls], p = predicted[phase + " " + cls];
        std::snprintf(line, sizeof line, " %7.1f / %6.1f", m, p);
        out += line;
        if (m > 5.0) {
          EXPECT_LT(std::fabs(p / m - 1.0), 0.55) << id << " " << phase << " " << cls << ": profiled " << m << " ms, predicted " << p << " ms";
        }
      }
      std::printf("%s\n", out.c_str());
    }
  }
}

}  // namespace
}  // namespace mfusim::workload
