#include "scenario/energy.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "core/error.hpp"
#include "core/unit_parser.hpp"
#include "scenario/training.hpp"

namespace mfusim::scenario {
namespace {

// Idle power where the catalog has no measurement: the ratio measured on this project's H100
// (topologies/hardware/gpus.yaml: 118.2 W idle with a CUDA context open / 700 W TDP = 16.9%;
// workloads/calibration/h100-sxm5-80gb/power.yaml).
constexpr double kIdleShareOfTdp = 118.2 / 700.0;

std::string watts(double w) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g W", w);
  return buf;
}

std::optional<core::Power> non_negative_power(config::Reader& r, std::string_view key) {
  return r.maybe<core::Power>(key);  // the unit parser rejects negative values
}

double positive_number(config::Reader& r, std::string_view key) {
  const double v = r.required<double>(key);
  if (!(v > 0)) r.fail(key, "must be greater than zero");
  return v;
}

}  // namespace

PowerSettings read_power(config::Reader& scenario) {
  PowerSettings p;
  auto r = scenario.maybe_mapping("power");
  if (!r) return p;
  for (const char* key : {"gpu_idle", "gpu_busy", "nic", "switch", "host", "comm_activity", "pue"}) r->has(key);
  r->finish();
  p.gpu_idle = non_negative_power(*r, "gpu_idle");
  p.gpu_busy = non_negative_power(*r, "gpu_busy");
  if (p.gpu_idle && p.gpu_busy && p.gpu_idle->value() > p.gpu_busy->value()) {
    r->fail("gpu_idle", core::format_power(*p.gpu_idle) + " is above gpu_busy " + core::format_power(*p.gpu_busy));
  }
  p.nic = non_negative_power(*r, "nic");
  p.fabric_switch = non_negative_power(*r, "switch");
  p.host = non_negative_power(*r, "host");
  p.comm_activity = r->optional<double>("comm_activity", p.comm_activity);
  if (p.comm_activity < 0.0 || p.comm_activity > 1.0) {
    r->fail("comm_activity", "must be between 0 (communication draws idle power) and 1 (as much as kernels)");
  }
  if (r->has("pue")) {
    p.pue = r->required<double>("pue");
    if (!(*p.pue >= 1.0 && *p.pue <= 3.0)) {
      r->fail("pue", "must be between 1 (no facility overhead) and 3 (PUE = facility power / IT power)");
    }
  }
  r->finish();
  return p;
}

CostSettings read_cost(config::Reader& scenario) {
  CostSettings c;
  auto r = scenario.maybe_mapping("cost");
  if (!r) return c;
  c.given = true;
  // Unknown keys (typos) first: the rules below would otherwise hide them.
  for (const char* key : {"currency", "gpu_hour_price", "capex_per_gpu", "amortization", "power_price"}) r->has(key);
  r->finish();
  c.currency = r->optional<std::string>("currency", c.currency);
  if (c.currency.empty() || c.currency.size() > 8 ||
      !std::all_of(c.currency.begin(), c.currency.end(), [](unsigned char ch) { return std::isalpha(ch) != 0; })) {
    r->fail("currency", "'" + c.currency + "' is not a currency label (letters only, e.g. USD, EUR)");
  }
  const bool rental = r->has("gpu_hour_price");
  const bool ownership = r->has("capex_per_gpu");
  const bool amortization = r->has("amortization");
  const bool power_price = r->has("power_price");
  if (rental && ownership) {
    r->fail("capex_per_gpu", "give either gpu_hour_price (rental, all-in) or capex_per_gpu (ownership), not both");
  }
  if (rental) {
    c.gpu_hour_price = positive_number(*r, "gpu_hour_price");
    for (const char* key : {"amortization", "power_price"}) {
      if (r->has(key)) {
        r->fail(key, std::string("gpu_hour_price is an all-in price (energy included); ") + key +
                         " applies only to the ownership model (capex_per_gpu)");
      }
    }
  } else if (ownership) {
    c.capex_per_gpu = positive_number(*r, "capex_per_gpu");
    if (!amortization) r->fail_here("capex_per_gpu needs amortization (the period it is written off over, e.g. 4y)");
    if (!power_price) r->fail_here("capex_per_gpu needs power_price (currency per kWh of facility energy, e.g. 0.08)");
    const auto text = r->required<std::string>("amortization");
    try {
      c.amortization_s = core::parse_duration_seconds(text);
    } catch (const core::UnitError& e) {
      r->fail("amortization", std::string(e.what()) + " (write e.g. 4y or 1460d)");
    }
    if (!(c.amortization_s > 0)) r->fail("amortization", "must be greater than zero");
    c.power_price = r->required<double>("power_price");
    if (c.power_price < 0) r->fail("power_price", "must not be negative");
  } else {
    r->fail_here("give gpu_hour_price (rental: currency per GPU-hour, all-in) or capex_per_gpu with amortization "
                 "and power_price (ownership)");
  }
  r->finish();
  return c;
}

double gpu_power_w(double idle_w, double busy_w, double kernel_share, double comm_share, double comm_activity) {
  return idle_w + (busy_w - idle_w) * (kernel_share + comm_activity * comm_share);
}

EnergyEstimate estimate_energy(const TrainingSetup& t, const workload::StepResult& step) {
  EnergyEstimate e;
  const auto& gpu = *t.topology.gpu_spec;
  const PowerSettings& p = t.power;
  e.step_s = step.step_time.seconds();
  e.tokens_per_step = step.tokens;
  e.gpus = static_cast<double>(t.plan.gpus());

  const double tdp = gpu.tdp.value();
  if (p.gpu_busy) {
    e.gpu_busy_w = p.gpu_busy->value();
  } else if (gpu.busy_power) {
    e.gpu_busy_w = gpu.busy_power->value();
  } else {
    e.gpu_busy_w = tdp;
    e.notes.push_back("busy power not in the catalog for " + gpu.name + ": assumed its TDP " + watts(tdp) +
                      " (set power.gpu_busy)");
  }
  if (p.gpu_idle) {
    e.gpu_idle_w = p.gpu_idle->value();
  } else if (gpu.idle_power) {
    e.gpu_idle_w = gpu.idle_power->value();
  } else {
    e.gpu_idle_w = kIdleShareOfTdp * tdp;
    e.notes.push_back("idle power not measured for " + gpu.name + ": assumed 16.9% of TDP = " + watts(e.gpu_idle_w) +
                      " (the H100's measured 118.2 W / 700 W; set power.gpu_idle)");
  }
  if (e.gpu_idle_w > e.gpu_busy_w) {
    throw core::InputError("power: GPU idle power " + watts(e.gpu_idle_w) + " is above its busy power " +
                           watts(e.gpu_busy_w) + " (set power.gpu_idle / power.gpu_busy consistently)");
  }

  // GPUs: each simulated rank stands for gpus_per_simulated_rank GPUs.
  if (e.step_s > 0) {
    for (const auto& a : step.activity) {
      const double kernel = a.kernel_busy.seconds() / e.step_s;
      const double comm = a.comm_only.seconds() / e.step_s;
      e.gpu_w += step.gpus_per_simulated_rank * gpu_power_w(e.gpu_idle_w, e.gpu_busy_w, kernel, comm, p.comm_activity);
    }
  }
  e.notes.push_back("energy: GPU power = idle + (busy - idle) x (kernel share + " + [&] {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.2g", p.comm_activity);
    return std::string(buf);
  }() + " x communication-only share of the step), idle " + watts(e.gpu_idle_w) + ", busy " + watts(e.gpu_busy_w) +
                    " (docs/models/energy.md)");

  // Network and hosts: constant power per device.
  std::size_t nics = 0, switches = 0;
  for (const auto& d : t.topology.devices()) {
    if (d.kind == topology::DeviceKind::kNic) ++nics;
    if (d.kind == topology::DeviceKind::kSwitch) ++switches;
  }
  std::vector<std::string> left_out;
  const auto constant = [&](std::size_t count, const std::optional<core::Power>& override_w,
                            const std::optional<core::Power>& catalog_w, const std::string& what, const char* key) {
    if (count == 0) return 0.0;
    if (override_w) return static_cast<double>(count) * override_w->value();
    if (catalog_w) return static_cast<double>(count) * catalog_w->value();
    left_out.push_back(std::to_string(count) + " " + what + " (power." + key + ")");
    return 0.0;
  };
  e.nic_w = constant(nics, p.nic, t.topology.nic_spec ? t.topology.nic_spec->power : std::nullopt,
                     (t.topology.nic_spec ? t.topology.nic_spec->name : std::string("NIC")) + " NICs", "nic");
  e.switch_w = constant(switches, p.fabric_switch, t.topology.switch_spec ? t.topology.switch_spec->power : std::nullopt,
                        (t.topology.switch_spec ? t.topology.switch_spec->name : std::string("fabric")) + " switches",
                        "switch");
  e.host_w = constant(t.topology.node_count(), p.host, std::nullopt, "hosts (CPUs, memory, NVSwitches, fans)", "host");
  if (!left_out.empty()) {
    std::string list;
    for (const auto& s : left_out) list += (list.empty() ? "" : ", ") + s;
    e.notes.push_back("energy leaves out, for want of a cited power figure: " + list);
  }
  e.it_w = e.gpu_w + e.nic_w + e.switch_w + e.host_w;
  if (p.pue) {
    e.pue = *p.pue;
  } else {
    e.notes.push_back("PUE not given: energy is IT energy, without cooling and power-delivery overhead (set power.pue)");
  }
  e.facility_w = e.it_w * e.pue;
  e.step_j = e.facility_w * e.step_s;
  e.token_j = e.tokens_per_step > 0 ? e.step_j / e.tokens_per_step : 0.0;
  return e;
}

CostEstimate estimate_cost(const EnergyEstimate& e, const CostSettings& c, std::optional<double> tokens_to_train) {
  CostEstimate k;
  k.currency = c.currency;
  const auto cost_of = [&](double seconds, double joules) {
    if (c.gpu_hour_price) return e.gpus * seconds / 3600.0 * *c.gpu_hour_price;
    const double capex = c.capex_per_gpu ? e.gpus * *c.capex_per_gpu * seconds / c.amortization_s : 0.0;
    return capex + joules / 3.6e6 * c.power_price;
  };
  if (c.given) {
    k.priced = true;
    k.step_cost = cost_of(e.step_s, e.step_j);
    k.per_million_tokens = e.tokens_per_step > 0 ? k.step_cost / e.tokens_per_step * 1e6 : 0.0;
  }
  if (tokens_to_train && e.tokens_per_step > 0) {
    k.has_tokens = true;
    k.tokens = *tokens_to_train;
    k.steps = k.tokens / e.tokens_per_step;
    k.time_s = k.steps * e.step_s;
    k.gpu_hours = e.gpus * k.time_s / 3600.0;
    k.energy_j = k.steps * e.step_j;
    if (k.priced) k.cost = cost_of(k.time_s, k.energy_j);
  }
  return k;
}

}  // namespace mfusim::scenario
