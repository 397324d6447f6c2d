// Energy and cost model (scenario/energy.hpp, docs/models/energy.md): closed forms of the GPU power
// model, energy = power x time on a real step, and the cost arithmetic of both pricing models.
#include "scenario/energy.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "scenario/scenario.hpp"
#include "scenario/simulation.hpp"

namespace mfusim::scenario {
namespace {

const std::filesystem::path kQuickstart = std::filesystem::path(MFUSIM_SOURCE_DIR) / "scenarios/quickstart.yaml";

struct Run {
  Scenario sc;
  SimulationResult r;
};

Run run(const std::vector<std::string>& overrides) {
  Run x{load_scenario(kQuickstart, overrides), {}};
  x.r = simulate(x.sc);
  return x;
}

bool mentions(const EnergyEstimate& e, const std::string& text) {
  for (const auto& n : e.notes) {
    if (n.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(EnergyModel, GpuPowerClosedForms) {
  EXPECT_DOUBLE_EQ(gpu_power_w(73.3, 700, 1.0, 0.0, 0.25), 700.0) << "a GPU running kernels all step draws busy power";
  EXPECT_DOUBLE_EQ(gpu_power_w(73.3, 700, 0.0, 0.0, 0.25), 73.3) << "an idle GPU draws idle power";
  EXPECT_DOUBLE_EQ(gpu_power_w(100, 500, 0.5, 0.0, 0.25), 300.0) << "half busy: halfway between idle and busy";
  EXPECT_DOUBLE_EQ(gpu_power_w(100, 500, 0.0, 1.0, 0.25), 200.0) << "communication only: idle + 0.25 x (busy - idle)";
  EXPECT_DOUBLE_EQ(gpu_power_w(100, 500, 0.0, 1.0, 0.0), 100.0) << "comm_activity 0: communication draws idle power";
}

TEST(EnergyModel, ConstantPowerGivesPowerTimesTime) {
  // Idle = busy = 500 W: every GPU draws 500 W whatever it does, so the 8 GPUs draw 4 kW; one host of
  // 1 kW; PUE 1.5. Facility power = (4000 + 1000) x 1.5 = 7500 W and E_step = 7500 W x t_step.
  const auto x = run({"power.gpu_idle=500W", "power.gpu_busy=500W", "power.host=1kW", "power.pue=1.5"});
  const auto e = estimate_energy(*x.sc.training, *x.r.step);
  const double t = x.r.step->step_time.seconds();
  ASSERT_GT(t, 0.0);
  EXPECT_NEAR(e.gpu_w, 8 * 500.0, 1e-9 * 4000) << "8 GPUs x 500 W";
  EXPECT_DOUBLE_EQ(e.host_w, 1000.0) << "one node (tiny-1node) x 1 kW";
  EXPECT_DOUBLE_EQ(e.nic_w + e.switch_w, 0.0) << "tiny-1node has no scale-out fabric";
  EXPECT_NEAR(e.facility_w, 7500.0, 1e-9 * 7500);
  EXPECT_NEAR(e.step_j, 7500.0 * t, 1e-9 * 7500 * t) << "energy = power x time";
  EXPECT_NEAR(e.token_j, e.step_j / (32.0 * 8192), 1e-12) << "per token: E_step / (global batch x seq)";
  EXPECT_FALSE(mentions(e, "PUE not given"));
}

TEST(EnergyModel, CatalogPowerFollowsSimulatedActivity) {
  const auto x = run({});
  const auto& step = *x.r.step;
  const auto e = estimate_energy(*x.sc.training, step);
  const double t = step.step_time.seconds();
  // The activity of the critical rank is its breakdown's kernel parts (compute, recompute, optimizer).
  ASSERT_FALSE(step.activity.empty());
  for (const auto& a : step.activity) {
    if (a.rank != step.critical_rank) continue;
    const auto kernels = step.breakdown.compute + step.breakdown.recompute + step.breakdown.optimizer;
    EXPECT_EQ(a.kernel_busy.ps(), kernels.ps()) << "kernel time = compute + recompute + optimizer of the breakdown";
    EXPECT_LE((a.kernel_busy + a.comm_only).ps(), step.step_time.ps()) << "kernel and comm-only time are disjoint";
  }
  EXPECT_DOUBLE_EQ(step.gpus_per_simulated_rank * static_cast<double>(step.activity.size()), 8.0)
      << "the simulated ranks stand for all 8 GPUs";
  // H100: idle 118.2 W, busy 697.3 W (both measured, catalog). The fleet lies between all-idle and all-busy,
  // and equals the closed form summed over the simulated ranks.
  EXPECT_DOUBLE_EQ(e.gpu_idle_w, 118.2);
  EXPECT_DOUBLE_EQ(e.gpu_busy_w, 697.3);
  double expected = 0.0;
  for (const auto& a : step.activity) {
    expected += step.gpus_per_simulated_rank *
                gpu_power_w(118.2, 697.3, a.kernel_busy.seconds() / t, a.comm_only.seconds() / t, 0.25);
  }
  EXPECT_NEAR(e.gpu_w, expected, 1e-9 * expected);
  EXPECT_GT(e.gpu_w, 8 * 118.2);
  EXPECT_LT(e.gpu_w, 8 * 700.0);
  EXPECT_TRUE(mentions(e, "PUE not given")) << "the default PUE of 1 is said, not silent";
  EXPECT_TRUE(mentions(e, "hosts")) << "host power has no cited figure: left out and said";
  EXPECT_NEAR(e.step_j, e.it_w * t, 1e-9 * e.step_j);
}

TEST(EnergyModel, MissingCatalogFiguresAreNotedFallbacks) {
  // H200: busy 700 W in the catalog, no idle measurement -> 16.9% of TDP, noted.
  const auto h200 = run({"cluster.node.kind=hgx-h200"});
  const auto e = estimate_energy(*h200.sc.training, *h200.r.step);
  EXPECT_NEAR(e.gpu_idle_w, 700.0 * 118.2 / 700.0, 1e-9);
  EXPECT_TRUE(mentions(e, "idle power not measured for H200-SXM-141GB: assumed 16.9% of TDP"));
  // A100: neither figure -> TDP 400 W as busy power, noted.
  const auto a100 = run({"cluster.node.kind=dgx-a100", "training.global_batch=8", "training.seq_length=2048"});
  const auto f = estimate_energy(*a100.sc.training, *a100.r.step);
  EXPECT_DOUBLE_EQ(f.gpu_busy_w, 400.0);
  EXPECT_TRUE(mentions(f, "busy power not in the catalog for A100-SXM4-80GB: assumed its TDP 400 W"));
}

TEST(TrainingCost, RentalIsGpuHoursTimesPrice) {
  EnergyEstimate e;
  e.gpus = 1024;
  e.step_s = 10.0;
  e.tokens_per_step = 4e6;
  e.step_j = 1e7;
  CostSettings c;
  c.given = true;
  c.gpu_hour_price = 2.0;
  const auto k = estimate_cost(e, c, 4e9);
  EXPECT_DOUBLE_EQ(k.step_cost, 1024 * 10.0 / 3600.0 * 2.0) << "one step: GPUs x step hours x price";
  EXPECT_DOUBLE_EQ(k.per_million_tokens, k.step_cost / 4.0) << "4M tokens per step";
  EXPECT_DOUBLE_EQ(k.steps, 1000.0) << "4e9 tokens / 4e6 tokens per step";
  EXPECT_DOUBLE_EQ(k.time_s, 10000.0);
  EXPECT_DOUBLE_EQ(k.gpu_hours, 1024 * 10000.0 / 3600.0);
  EXPECT_DOUBLE_EQ(k.energy_j, 1e10) << "1000 steps x 10 MJ";
  EXPECT_DOUBLE_EQ(k.cost, k.gpu_hours * 2.0);
}

TEST(TrainingCost, OwnershipIsAmortizedCapexPlusEnergy) {
  EnergyEstimate e;
  e.gpus = 1024;
  e.step_s = 10.0;
  e.tokens_per_step = 4e6;
  e.step_j = 1e7;
  CostSettings c;
  c.given = true;
  c.capex_per_gpu = 36000.0;
  c.amortization_s = 4 * 365.25 * 86400.0;
  c.power_price = 0.1;
  const auto k = estimate_cost(e, c, 4e9);
  const double capex = 1024 * 36000.0 * 10000.0 / (4 * 365.25 * 86400.0);
  const double energy = 1e10 / 3.6e6 * 0.1;  // 2,778 kWh at 0.1 per kWh
  EXPECT_NEAR(k.cost, capex + energy, 1e-9 * (capex + energy));
  EXPECT_NEAR(k.step_cost, k.cost / 1000.0, 1e-9 * k.step_cost) << "cost is linear in the number of steps";
  const auto no_tokens = estimate_cost(e, c, std::nullopt);
  EXPECT_FALSE(no_tokens.has_tokens) << "without training.tokens_to_train there is nothing to train";
  EXPECT_TRUE(no_tokens.priced);
}

}  // namespace
}  // namespace mfusim::scenario
