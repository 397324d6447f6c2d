#pragma once
// Energy and cost of a training step and of a whole training run (docs/models/energy.md).
//
// GPU power follows what the GPU does over the step (linear utilization model):
//   P_gpu = P_idle + (P_busy - P_idle) x (u_kernel + a x u_comm)
// u_kernel = kernel time / step time on the GPU's compute stream; u_comm = time when only its
// communication runs / step time; a = power.comm_activity (default 0.25, an assumption: NCCL kernels
// hold 16-32 of an H100's 132 SMs, i.e. 12-24% of them, plus HBM and link traffic). In symmetric
// expansion each simulated rank stands for the tp x cp x dp GPUs of its pipeline stage.
// P_busy: catalog busy_power, else the TDP; P_idle: catalog idle_power, else 16.9% of the TDP (the
// ratio measured on the H100: 118.2 W with a CUDA context open / 700 W). Every fallback is written into the report's notes.
// NICs, fabric switches and hosts draw a constant power (links stay powered whether busy or not):
// count (from the topology) x power (scenario `power:` section, else catalog), left out and noted where
// neither gives a figure. Facility power = IT power x PUE (power.pue, default 1 = IT only, noted).
//   E_step = P_facility x t_step;  E_token = E_step / tokens per step.
// Cost (scenario `cost:` section), per step and for `training.tokens_to_train` tokens:
//   rental:    cost = GPU-hours x gpu_hour_price                      (all-in: energy included)
//   ownership: cost = GPUs x capex_per_gpu x t / amortization + E_facility[kWh] x power_price
#include <optional>
#include <string>
#include <vector>

#include "config/reader.hpp"
#include "core/units.hpp"
#include "workload/step_simulator.hpp"

namespace mfusim::scenario {

struct TrainingSetup;

// Scenario `power:` (optional): overrides of the catalog's figures and facility efficiency.
struct PowerSettings {
  std::optional<core::Power> gpu_idle;       // per GPU
  std::optional<core::Power> gpu_busy;       // per GPU at full tensor-core load
  std::optional<core::Power> nic;            // per scale-out NIC
  std::optional<core::Power> fabric_switch;  // per fabric switch (key `switch`)
  std::optional<core::Power> host;           // per node: CPUs, memory, NVSwitches, fans (everything else)
  double comm_activity = 0.25;               // share of (busy - idle) drawn while only communication runs
  std::optional<double> pue;                 // power usage effectiveness, >= 1
};

// Scenario `cost:` (optional). Exactly one of gpu_hour_price (rental) or capex_per_gpu (ownership,
// with amortization and power_price).
struct CostSettings {
  bool given = false;
  std::string currency = "USD";
  std::optional<double> gpu_hour_price;  // currency per GPU-hour, all-in
  std::optional<double> capex_per_gpu;   // currency per GPU, all-in purchase (its share of servers and network)
  double amortization_s = 0.0;           // seconds over which capex is written off
  double power_price = 0.0;              // currency per kWh (ownership only)
};

PowerSettings read_power(config::Reader& scenario);  // the optional `power:` mapping
CostSettings read_cost(config::Reader& scenario);    // the optional `cost:` mapping

// The closed form above for one GPU, in watts.
double gpu_power_w(double idle_w, double busy_w, double kernel_share, double comm_share, double comm_activity);

struct EnergyEstimate {
  double step_s = 0.0;
  double tokens_per_step = 0.0;
  double gpus = 0.0;
  double gpu_idle_w = 0.0, gpu_busy_w = 0.0;  // per GPU, as used
  double gpu_w = 0.0;                         // all GPUs, mean over the step
  double nic_w = 0.0, switch_w = 0.0, host_w = 0.0;
  double it_w = 0.0;
  double pue = 1.0;
  double facility_w = 0.0;
  double step_j = 0.0;   // facility energy of one step
  double token_j = 0.0;  // per token
  std::vector<std::string> notes;  // every assumption and left-out component
};

EnergyEstimate estimate_energy(const TrainingSetup& t, const workload::StepResult& step);

struct CostEstimate {
  bool priced = false;  // a `cost:` section was given
  std::string currency;
  double step_cost = 0.0;
  double per_million_tokens = 0.0;
  bool has_tokens = false;  // training.tokens_to_train was given
  double tokens = 0.0;
  double steps = 0.0;   // tokens / tokens per step (fractional: the last step may be partial)
  double time_s = 0.0;
  double gpu_hours = 0.0;
  double energy_j = 0.0;
  double cost = 0.0;
};

CostEstimate estimate_cost(const EnergyEstimate& e, const CostSettings& c, std::optional<double> tokens_to_train);

}  // namespace mfusim::scenario
