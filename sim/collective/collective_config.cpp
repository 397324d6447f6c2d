#include "collective/collective_config.hpp"

#include <array>
#include <string>

#include "core/error.hpp"

namespace mfusim::collective {
namespace {

constexpr std::array<config::Choice<Fidelity>, 2> kFidelities{{
    {"analytical", Fidelity::kAnalytical, "one timed event per collective (NCCL's cost model), no contention"},
    {"flow", Fidelity::kFlow, "collectives lowered to transfers on the flow network: contention on shared links"},
}};

enum class EfficiencyKind { kCalibrated, kNone };
constexpr std::array<config::Choice<EfficiencyKind>, 2> kEfficiencies{{
    {"calibrated", EfficiencyKind::kCalibrated, "size-dependent efficiency fitted to measured nccl-tests points"},
    {"none", EfficiencyKind::kNone, "NCCL's cost model as NCCL evaluates it"},
}};

constexpr std::array<config::Choice<CpuVendor>, 2> kCpus{{
    {"intel", CpuVendor::kIntel, "Intel (or other) host CPU"},
    {"amd", CpuVendor::kAmd, "AMD host CPU"},
}};

}  // namespace

CollectiveConfig read_collective_config(config::Reader& r) {
  CollectiveConfig c;
  c.fidelity = r.choice<Fidelity>("fidelity", kFidelities, Fidelity::kAnalytical);
  if (auto algorithms = r.maybe<std::string>("algorithm")) {
    try {
      c.tuning.selection.algorithms = parse_algorithms(*algorithms, "algorithm");
    } catch (const core::InputError& e) {
      r.fail("algorithm", e.what());
    }
  }
  if (auto protocols = r.maybe<std::string>("protocol")) {
    try {
      c.tuning.selection.protocols = parse_protocols(*protocols, "protocol");
    } catch (const core::InputError& e) {
      r.fail("protocol", e.what());
    }
  }
  c.tuning.nvls = r.optional<bool>("nvls", true);
  c.tuning.collnet = r.optional<bool>("collnet", false);
  if (r.choice<EfficiencyKind>("efficiency", kEfficiencies, EfficiencyKind::kCalibrated) == EfficiencyKind::kNone) {
    c.tuning.efficiency = EfficiencyCurve::none();
  }
  c.tuning.cpu = r.choice<CpuVendor>("cpu", kCpus, CpuVendor::kIntel);
  c.sm.k = r.optional<double>("sm_contention_k", SmContention::kDefaultK);
  if (!(c.sm.k >= 0.0 && c.sm.k <= 10.0)) r.fail("sm_contention_k", "must be between 0 and 10");
  r.finish();
  return c;
}

}  // namespace mfusim::collective
