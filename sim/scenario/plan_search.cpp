#include "scenario/plan_search.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <numeric>

#include "compute/kernel_cost_model.hpp"
#include "config/loader.hpp"
#include "config/overrides.hpp"
#include "core/engine.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/strings.hpp"
#include "scenario/collective_communication.hpp"
#include "scenario/scenario.hpp"

namespace mfusim::scenario {
namespace {

using workload::ParallelPlan;
using Schedule = workload::PipelineSchedule;
using workload::Recompute;
using workload::Sharding;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Plan keys the search enumerates (a --fix pins them) and the other plan keys a --fix may set (they keep
// the scenario's value otherwise).
const std::vector<std::string>& searched_keys() {
  static const std::vector<std::string> keys{"parallel.tp",          "parallel.cp",       "parallel.pp",
                                             "parallel.dp",          "parallel.ep",       "parallel.virtual_stages",
                                             "parallel.schedule",    "parallel.sharding", "parallel.sequence_parallel",
                                             "training.micro_batch", "training.recompute"};
  return keys;
}
const std::vector<std::string>& other_plan_keys() {
  static const std::vector<std::string> keys{"parallel.expert_tp",
                                             "parallel.order",
                                             "parallel.cp_kind",
                                             "parallel.moe_imbalance",
                                             "parallel.overlap_grad_reduce",
                                             "parallel.overlap_param_gather",
                                             "parallel.tp_comm_overlap",
                                             "parallel.bucket_size"};
  return keys;
}

std::string str(std::int64_t v) {
  return std::to_string(v);
}

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / kGiB);
  return buf;
}

std::string seconds(core::Duration d) {
  char buf[32];
  const double s = d.seconds();
  if (std::fabs(s) >= 1.0)
    std::snprintf(buf, sizeof buf, "%.3f s", s);
  else
    std::snprintf(buf, sizeof buf, "%.1f ms", s * 1e3);
  return buf;
}

std::vector<std::int64_t> divisors(std::int64_t n) {
  std::vector<std::int64_t> out;
  for (std::int64_t d = 1; d * d <= n; ++d) {
    if (n % d == 0) {
      out.push_back(d);
      if (d != n / d) out.push_back(n / d);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string_view sharding_token(Sharding s) {
  switch (s) {
    case Sharding::kNone:
      return "zero0";
    case Sharding::kOptimizer:
      return "zero1";
    case Sharding::kGradients:
      return "zero2";
    case Sharding::kParameters:
      return "zero3";
  }
  return "?";
}
std::string_view sharding_key(Sharding s) {
  switch (s) {
    case Sharding::kNone:
      return "none";
    case Sharding::kOptimizer:
      return "optimizer";
    case Sharding::kGradients:
      return "gradients";
    case Sharding::kParameters:
      return "parameters";
  }
  return "?";
}
std::string_view recompute_name(Recompute r) {
  switch (r) {
    case Recompute::kNone:
      return "none";
    case Recompute::kSelective:
      return "selective";
    case Recompute::kFull:
      return "full";
  }
  return "?";
}

// What the user pinned with --fix (read back from the scenario the fixes were applied to, so values
// went through the scenario's own parsing and checks).
struct Pins {
  std::optional<std::int64_t> tp, cp, pp, dp, ep, virtual_stages, micro_batch;
  std::optional<Schedule> schedule;
  std::optional<Sharding> sharding;
  std::optional<bool> sequence_parallel;
  std::optional<Recompute> recompute;
};

template <class T>
bool allowed(const std::optional<T>& pin, const T& v) {
  return !pin || *pin == v;
}

struct Simulated {
  core::Duration step_time;
  double mfu = 0.0;
  workload::StepBreakdown breakdown;
};

Simulated simulate_candidate(const TrainingSetup& t, const PlanCandidate& c, Fidelity fidelity,
                             const compute::KernelCostModel& cost) {
  workload::StepConfig cfg;
  cfg.model = &t.model;
  cfg.plan = c.plan;
  cfg.seq = t.seq;
  cfg.recompute = c.recompute;
  cfg.gemm_dtype = t.precision;
  const auto program = workload::build_step_program(cfg, cost);
  core::Engine engine;
  CollectiveCommunication comm(engine, t.topology, fidelity);
  const auto step = workload::simulate_step(cfg, program, cost, comm, engine);
  if (step.run.status != core::RunStatus::kCompleted) {
    throw core::SimulationError("simulation " + std::string(core::to_string(step.run.status)));
  }
  return Simulated{step.step_time, step.mfu, step.breakdown};
}

std::string error_text(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown error";
  }
}

// Checks a --fix assignment's key before it is applied; returns the key.
std::string fix_key(const std::string& fix) {
  const auto eq = fix.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw core::InputError("--fix " + fix + ": expected key=value, e.g. --fix parallel.tp=8");
  }
  const std::string key = fix.substr(0, eq);
  std::vector<std::string> valid = searched_keys();
  valid.insert(valid.end(), other_plan_keys().begin(), other_plan_keys().end());
  if (std::find(valid.begin(), valid.end(), key) != valid.end()) return key;
  std::string message = "--fix " + fix + ": '" + key + "' is not a plan key";
  std::optional<std::string> suggestion;
  for (const auto& k : valid) {
    if (k.size() > key.size() && k.compare(k.size() - key.size(), key.size(), key) == 0 &&
        k[k.size() - key.size() - 1] == '.') {
      suggestion = k;
      break;
    }
  }
  if (!suggestion) suggestion = core::closest_match(key, valid);
  if (suggestion) message += " (did you mean '" + *suggestion + "'?)";
  message += "; plan keys: " + core::join(valid) + " (other scenario keys: --set)";
  throw core::InputError(message);
}

void check_pin(const std::string& key, std::int64_t value, std::int64_t gpus, bool divides_gpus) {
  if (value < 1) throw core::InputError("--fix " + key + "=" + str(value) + ": must be at least 1");
  if (divides_gpus && gpus % value != 0) {
    std::string valid;
    for (auto d : divisors(gpus)) valid += (valid.empty() ? "" : ", ") + str(d);
    throw core::InputError("--fix " + key + "=" + str(value) + ": " + str(value) + " does not divide the cluster's " +
                           str(gpus) + " GPUs (valid: " + valid + ")");
  }
}

void check_limit(const char* flag, std::int64_t v, std::int64_t min) {
  if (v < min) throw core::InputError(std::string(flag) + ": " + str(v) + " must be at least " + str(min));
}

}  // namespace

std::string plan_string(const PlanCandidate& c) {
  const auto& p = c.plan;
  std::string s = "tp=" + str(p.tp);
  if (p.tp > 1 && !p.sequence_parallel) s += "/no-sp";
  s += " cp=" + str(p.cp) + " pp=" + str(p.pp) + " v=" + str(p.virtual_stages) + " dp=" + str(p.dp) +
       " ep=" + str(p.ep) + " mb=" + str(p.micro_batch) + " ";
  s += p.pp > 1 ? std::string(workload::to_string(p.schedule)) : std::string("no-pp");
  s += " " + std::string(sharding_token(p.sharding)) + " rc=" + std::string(recompute_name(c.recompute));
  return s;
}

std::vector<std::string> plan_overrides(const PlanCandidate& c) {
  const auto& p = c.plan;
  return {"parallel.tp=" + str(p.tp),
          "parallel.cp=" + str(p.cp),
          "parallel.pp=" + str(p.pp),
          "parallel.dp=" + str(p.dp),
          "parallel.ep=" + str(p.ep),
          "parallel.virtual_stages=" + str(p.virtual_stages),
          "parallel.schedule=" + std::string(workload::to_string(p.schedule)),
          "parallel.sharding=" + std::string(sharding_key(p.sharding)),
          std::string("parallel.sequence_parallel=") + (p.sequence_parallel ? "true" : "false"),
          "training.micro_batch=" + str(p.micro_batch),
          "training.recompute=" + std::string(recompute_name(c.recompute))};
}

std::string_view to_string(PlanStatus s) {
  switch (s) {
    case PlanStatus::kOk:
      return "ok";
    case PlanStatus::kInvalid:
      return "invalid";
    case PlanStatus::kOutOfMemory:
      return "oom";
    case PlanStatus::kDominated:
      return "dominated";
    case PlanStatus::kError:
      return "error";
  }
  return "?";
}

bool ranks_before(const PlanEvaluation& a, const PlanEvaluation& b) {
  if (a.step_time != b.step_time) return a.step_time < b.step_time;
  if (a.peak_memory_bytes != b.peak_memory_bytes) return a.peak_memory_bytes < b.peak_memory_bytes;
  const auto& pa = a.candidate.plan;
  const auto& pb = b.candidate.plan;
  const auto replica_a = pa.tp * pa.cp * pa.pp, replica_b = pb.tp * pb.cp * pb.pp;
  if (replica_a != replica_b) return replica_a < replica_b;
  if (a.candidate.recompute != b.candidate.recompute) return a.candidate.recompute < b.candidate.recompute;
  return a.name < b.name;
}

SearchResult search_plans(const std::filesystem::path& scenario, const SearchOptions& options) {
  return search_plans(config::load_file(scenario), scenario.string(), options);
}

SearchResult search_plans(const config::Node& loaded, const std::string& source, const SearchOptions& o) {
  check_limit("--max-micro-batch", o.max_micro_batch, 1);
  check_limit("--min-micro-batch", o.min_micro_batch, 1);
  if (o.min_micro_batch > o.max_micro_batch) {
    throw core::InputError("--min-micro-batch " + str(o.min_micro_batch) + " is above --max-micro-batch " +
                           str(o.max_micro_batch));
  }
  for (auto [flag, v] : {std::pair{"--max-tp", o.max_tp},
                         {"--max-pp", o.max_pp},
                         {"--max-cp", o.max_cp},
                         {"--max-virtual-stages", o.max_virtual_stages}}) {
    check_limit(flag, v, 0);
  }
  config::Node root = loaded;
  for (const auto& s : o.overrides) config::apply_override(root, s);
  std::vector<std::string> fixed;
  for (const auto& f : o.fixes) {
    const auto key = fix_key(f);
    if (std::find(fixed.begin(), fixed.end(), key) != fixed.end())
      throw core::InputError("--fix " + f + ": " + key + " is fixed twice");
    fixed.push_back(key);
    config::apply_override(root, f, "--fix");
  }
  const Scenario base = build_scenario(root, source, /*check_plan=*/false);
  if (!base.training)
    throw core::InputError(source + ": search needs a training scenario (sections cluster, model, parallel, training)");
  const TrainingSetup& t = *base.training;
  const auto& model = t.model;
  const std::int64_t gpus = static_cast<std::int64_t>(t.topology.gpu_count());
  const std::int64_t gbs = t.plan.global_batch;

  Pins pin;
  const auto is_fixed = [&fixed](const char* k) { return std::find(fixed.begin(), fixed.end(), k) != fixed.end(); };
  if (is_fixed("parallel.tp")) check_pin("parallel.tp", *(pin.tp = t.plan.tp), gpus, true);
  if (is_fixed("parallel.cp")) check_pin("parallel.cp", *(pin.cp = t.plan.cp), gpus, true);
  if (is_fixed("parallel.pp")) check_pin("parallel.pp", *(pin.pp = t.plan.pp), gpus, true);
  if (is_fixed("parallel.dp")) check_pin("parallel.dp", *(pin.dp = t.plan.dp), gpus, true);
  if (is_fixed("parallel.ep")) check_pin("parallel.ep", *(pin.ep = t.plan.ep), gpus, false);
  if (is_fixed("parallel.virtual_stages"))
    check_pin("parallel.virtual_stages", *(pin.virtual_stages = t.plan.virtual_stages), gpus, false);
  if (is_fixed("training.micro_batch"))
    check_pin("training.micro_batch", *(pin.micro_batch = t.plan.micro_batch), gpus, false);
  if (is_fixed("parallel.schedule")) pin.schedule = t.plan.schedule;
  if (is_fixed("parallel.sharding")) pin.sharding = t.plan.sharding;
  if (is_fixed("parallel.sequence_parallel")) pin.sequence_parallel = t.plan.sequence_parallel;
  if (is_fixed("training.recompute")) pin.recompute = t.recompute;

  const std::int64_t domain = static_cast<std::int64_t>(t.topology.node_gpus(0).size());
  const std::int64_t max_tp = o.max_tp > 0 ? o.max_tp : domain;
  const std::int64_t max_pp = o.max_pp > 0 ? o.max_pp : model.layers;
  const std::int64_t max_cp = o.max_cp > 0 ? o.max_cp : std::max<std::int64_t>(1, t.seq / kMinTokensPerCpRank);
  const std::int64_t max_v = o.max_virtual_stages > 0 ? o.max_virtual_stages : model.layers;

  // The template every candidate starts from: the scenario's plan keys that are not searched.
  ParallelPlan templ = t.plan;

  SearchResult result;
  result.scenario = base.name;
  result.gpus = gpus;
  result.memory_capacity = t.memory_capacity;
  result.refine_fidelity = t.collectives;
  std::vector<PlanCandidate> candidates;

  const std::array<Sharding, 4> shardings{Sharding::kNone, Sharding::kOptimizer, Sharding::kGradients,
                                          Sharding::kParameters};
  const std::array<Recompute, 3> recomputes{Recompute::kNone, Recompute::kSelective, Recompute::kFull};
  for (std::int64_t tp : divisors(gpus)) {
    if (pin.tp ? tp != *pin.tp : tp > max_tp) continue;
    for (std::int64_t cp : divisors(gpus / tp)) {
      if (pin.cp ? cp != *pin.cp : cp > max_cp) continue;
      for (std::int64_t pp : divisors(gpus / (tp * cp))) {
        if (pin.pp ? pp != *pin.pp : pp > max_pp) continue;
        const std::int64_t dp = gpus / (tp * cp * pp);
        if (!allowed(pin.dp, dp)) continue;
        std::vector<std::int64_t> vs{1};
        if (pp > 1) {
          for (std::int64_t v = 2; v <= std::min(max_v, model.layers / pp); ++v) {
            if (model.layers % (pp * v) == 0) vs.push_back(v);
          }
        }
        if (pin.virtual_stages) vs = {*pin.virtual_stages};
        std::vector<Schedule> v1_schedules{Schedule::kOneFOneB};
        if (pp > 1) {
          v1_schedules.push_back(Schedule::kGpipe);
          v1_schedules.push_back(Schedule::kZeroBubbleH1);
          if (pp % 2 == 0) v1_schedules.push_back(Schedule::kDualPipe);
        }
        std::vector<std::int64_t> eps{1};
        if (model.moe) {
          eps.clear();
          for (auto e : divisors(model.moe->experts)) {
            if (dp % e == 0) eps.push_back(e);
          }
        }
        if (pin.ep) eps = {*pin.ep};
        // Micro-batches: divisors of the per-replica batch (none when dp does not divide the batch:
        // one candidate with micro_batch 1 then records why).
        std::vector<std::int64_t> mbs;
        if (pin.micro_batch) {
          mbs = {*pin.micro_batch};
        } else if (gbs % dp != 0) {
          mbs = {1};
        } else {
          for (auto m : divisors(gbs / dp)) {
            if (m >= o.min_micro_batch && m <= o.max_micro_batch) mbs.push_back(m);
          }
        }
        for (std::int64_t v : vs) {
          std::vector<Schedule> schedules = v > 1 ? std::vector<Schedule>{Schedule::kInterleaved} : v1_schedules;
          if (pin.schedule) schedules = {*pin.schedule};
          for (Schedule schedule : schedules) {
            for (std::int64_t ep : eps) {
              for (std::int64_t mb : mbs) {
                for (Sharding sh : shardings) {
                  if (pin.sharding ? sh != *pin.sharding : (dp == 1 && sh != Sharding::kNone)) continue;
                  for (Recompute rc : recomputes) {
                    if (!allowed(pin.recompute, rc)) continue;
                    PlanCandidate c;
                    c.plan = templ;
                    c.plan.tp = tp;
                    c.plan.cp = cp;
                    c.plan.pp = pp;
                    c.plan.dp = dp;
                    c.plan.ep = ep;
                    c.plan.virtual_stages = v;
                    c.plan.schedule = schedule;
                    c.plan.micro_batch = mb;
                    c.plan.sharding = sh;
                    c.plan.sequence_parallel = pin.sequence_parallel ? *pin.sequence_parallel && tp > 1 : tp > 1;
                    c.recompute = rc;
                    candidates.push_back(std::move(c));
                  }
                }
              }
            }
          }
        }
      }
    }
  }

  // The scenario's own plan (as written, with the fixes), wherever it falls.
  PlanCandidate own{t.plan, t.recompute};
  const std::string own_name = plan_string(own);
  result.plans.reserve(candidates.size() + 1);
  for (auto& c : candidates) {
    PlanEvaluation e;
    e.name = plan_string(c);
    e.candidate = std::move(c);
    if (e.name == own_name) {
      e.scenario_plan = true;
      result.scenario_plan = result.plans.size();
    }
    result.plans.push_back(std::move(e));
  }
  if (!result.scenario_plan) {
    PlanEvaluation e;
    e.name = own_name;
    e.candidate = own;
    e.scenario_plan = true;
    result.scenario_plan = result.plans.size();
    result.plans.push_back(std::move(e));
  }
  result.enumerated = result.plans.size();

  // 1-2: rules and memory, closed form.
  std::vector<std::size_t> survivors;
  for (std::size_t i = 0; i < result.plans.size(); ++i) {
    auto& e = result.plans[i];
    const auto problems = workload::check_plan(e.candidate.plan, model, gpus, t.seq);
    if (!problems.empty()) {
      e.status = PlanStatus::kInvalid;
      for (const auto& p : problems) e.reason += (e.reason.empty() ? "" : "; ") + p.key + ": " + p.message;
      ++result.invalid;
      continue;
    }
    const auto memory = workload::estimate_memory(model, memory_plan(e.candidate.plan, t.seq, e.candidate.recompute, t.flash_attention, t.dropout > 0.0));
    e.peak_memory_bytes = memory.total_bytes;
    if (memory.total_bytes > t.memory_capacity) {
      e.status = PlanStatus::kOutOfMemory;
      std::string largest;
      for (const auto& item : memory.largest())
        largest += (largest.empty() ? "" : ", ") + item.name + " " + gib(item.bytes);
      e.reason = gib(memory.total_bytes) + " per GPU > " + gib(t.memory_capacity) + " (largest: " + largest + ")";
      ++result.out_of_memory;
      continue;
    }
    survivors.push_back(i);
  }
  // 2b: keep, of each plan's recompute variants that fit, the one with the least recomputation (and the
  // scenario's own plan, whose rank the user wants).
  {
    std::map<std::string, std::pair<Recompute, std::size_t>> least;  // plan without rc -> least rc fitting
    auto stem = [](const PlanEvaluation& e) { return e.name.substr(0, e.name.rfind(" rc=")); };
    for (auto i : survivors) {
      const auto& e = result.plans[i];
      auto [it, inserted] = least.emplace(stem(e), std::pair{e.candidate.recompute, i});
      if (!inserted && e.candidate.recompute < it->second.first) it->second = {e.candidate.recompute, i};
    }
    std::vector<std::size_t> kept;
    for (auto i : survivors) {
      auto& e = result.plans[i];
      const auto& best = least.at(stem(e));
      if (e.candidate.recompute == best.first || e.scenario_plan) {
        kept.push_back(i);
        continue;
      }
      e.status = PlanStatus::kDominated;
      e.reason = "the same plan with rc=" + std::string(recompute_name(best.first)) +
                 " fits and recomputes less (never slower)";
      ++result.dominated;
    }
    survivors = std::move(kept);
  }

  // 3: every survivor at analytical fidelity, in parallel; results land in their own slots.
  const auto cost = compute::KernelCostModel::for_gpu(*t.catalog, *t.topology.gpu_spec,
                                                      compute::KernelCostModel::default_calibration_dir());
  auto run_phase = [&](const std::vector<std::size_t>& which, Fidelity fidelity, std::string_view phase, bool refine) {
    std::vector<std::optional<Simulated>> out(which.size());
    const auto errors = core::run_jobs(
        which.size(), o.threads,
        [&](std::size_t j) { out[j] = simulate_candidate(t, result.plans[which[j]].candidate, fidelity, cost); },
        [&](std::size_t done) {
          if (o.progress) o.progress(phase, done, which.size());
        });
    for (std::size_t j = 0; j < which.size(); ++j) {
      auto& e = result.plans[which[j]];
      if (errors[j]) {
        e.status = PlanStatus::kError;
        e.reason = (refine ? "refinement: " : "") + error_text(errors[j]);
        ++result.errors;
        continue;
      }
      if (!refine) e.analytical_step_time = out[j]->step_time;
      e.step_time = out[j]->step_time;
      e.mfu = out[j]->mfu;
      e.breakdown = out[j]->breakdown;
      e.refined = refine;
    }
  };
  if (o.dry_run) return result;
  // Plans whose step programs are identical are simulated once: the step simulator treats ZeRO-2 exactly
  // as ZeRO-1 (gradients reduce-scattered, parameters all-gathered; ZeRO-2 only saves memory), so a
  // zero2 plan takes its zero1 twin's result (and ranks by memory against it).
  std::vector<std::size_t> unique, twin_of(result.plans.size(), SIZE_MAX);
  {
    std::map<std::string, std::size_t> seen;
    auto program_key = [](const PlanEvaluation& e) {
      PlanCandidate c = e.candidate;
      if (c.plan.sharding == Sharding::kGradients) c.plan.sharding = Sharding::kOptimizer;
      return plan_string(c);
    };
    for (auto i : survivors) {
      const auto [it, inserted] = seen.emplace(program_key(result.plans[i]), i);
      if (inserted)
        unique.push_back(i);
      else
        twin_of[i] = it->second;
    }
  }
  run_phase(unique, Fidelity::kAnalytical, "simulating", false);
  for (auto i : survivors) {
    if (twin_of[i] == SIZE_MAX) continue;
    auto& e = result.plans[i];
    const auto& twin = result.plans[twin_of[i]];
    e.status = twin.status;
    if (twin.status != PlanStatus::kOk) {
      e.reason = twin.reason;
      ++result.errors;
      continue;
    }
    e.analytical_step_time = twin.analytical_step_time;
    e.step_time = twin.step_time;
    e.mfu = twin.mfu;
    e.breakdown = twin.breakdown;
    e.reason = "step simulated once for it and " + twin.name + " (the same step program)";
  }
  result.simulated = survivors.size();
  result.simulations = unique.size();

  auto ranked = [&result]() {
    std::vector<std::size_t> r;
    for (std::size_t i = 0; i < result.plans.size(); ++i) {
      if (result.plans[i].status == PlanStatus::kOk) r.push_back(i);
    }
    std::sort(r.begin(), r.end(), [&result](std::size_t a, std::size_t b) {
      const auto& pa = result.plans[a];
      const auto& pb = result.plans[b];
      if (pa.refined != pb.refined) return pa.refined;
      return ranks_before(pa, pb);
    });
    return r;
  };
  result.ranking = ranked();

  // 4: the best at the scenario's own fidelity.
  if (t.collectives != Fidelity::kAnalytical && o.refine > 0 && !result.ranking.empty()) {
    std::vector<std::size_t> top(
        result.ranking.begin(),
        result.ranking.begin() + static_cast<std::ptrdiff_t>(std::min(o.refine, result.ranking.size())));
    std::sort(top.begin(), top.end());
    run_phase(top, t.collectives, "refining", true);
    for (auto i : top) result.refined += result.plans[i].refined ? std::size_t{1} : std::size_t{0};
    result.ranking = ranked();
  }
  for (std::size_t k = 0; k < result.ranking.size(); ++k) result.plans[result.ranking[k]].rank = k + 1;
  return result;
}

std::string explain_win(const PlanEvaluation& best, const PlanEvaluation& runner_up) {
  // The tokens of the two plan strings that differ ("tp=8 pp=4" vs "tp=4 pp=8").
  auto tokens = [](const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
      const auto sp = s.find(' ', start);
      out.push_back(s.substr(start, sp == std::string::npos ? std::string::npos : sp - start));
      if (sp == std::string::npos) break;
      start = sp + 1;
    }
    return out;
  };
  const auto a = tokens(best.name), b = tokens(runner_up.name);
  std::string da, db;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] != b[i]) {
      da += (da.empty() ? "" : " ") + a[i];
      db += (db.empty() ? "" : " ") + b[i];
    }
  }
  std::string line = da + " beats " + db + ": ";
  const core::Duration gap = runner_up.step_time - best.step_time;
  if (gap > core::Duration::zero()) {
    line += seconds(gap) + " faster (" + seconds(best.step_time) + " vs " + seconds(runner_up.step_time) + ")";
    // Breakdown items, runner-up minus best: positive = the best spends less there.
    std::vector<std::pair<std::string, core::Duration>> diffs;
    const auto& x = best.breakdown;
    const auto& y = runner_up.breakdown;
    diffs.emplace_back("compute", y.compute - x.compute);
    diffs.emplace_back("recompute", y.recompute - x.recompute);
    diffs.emplace_back("pipeline bubble", y.bubble - x.bubble);
    diffs.emplace_back("optimizer", y.optimizer - x.optimizer);
    diffs.emplace_back("other", y.other - x.other);
    for (auto d :
         {workload::Dim::kTp, workload::Dim::kCp, workload::Dim::kEp, workload::Dim::kDp, workload::Dim::kPp}) {
      auto get = [d](const workload::StepBreakdown& s) {
        const auto it = s.exposed.find(d);
        return it == s.exposed.end() ? core::Duration::zero() : it->second;
      };
      diffs.emplace_back("exposed " + std::string(workload::to_string(d)) + " communication", get(y) - get(x));
    }
    // Largest magnitude first; equal magnitudes keep the listed order (stable sort).
    std::stable_sort(diffs.begin(), diffs.end(), [](const auto& p, const auto& q) {
      return std::llabs(p.second.ps()) > std::llabs(q.second.ps());
    });
    int shown = 0;
    for (const auto& [name, d] : diffs) {
      if (shown == 3 || std::llabs(d.ps()) * 100 < gap.ps()) break;  // items under 1% of the gap are noise
      line += std::string(shown == 0 ? ": " : ", ") + seconds(d.ps() >= 0 ? d : core::Duration::zero() - d) +
              (d.ps() >= 0 ? " less " : " more ") + name;
      ++shown;
    }
  } else {
    line += "the same step time (" + seconds(best.step_time) + "); wins the tie-break on ";
    if (best.peak_memory_bytes != runner_up.peak_memory_bytes) {
      line += "peak memory (" + gib(best.peak_memory_bytes) + " vs " + gib(runner_up.peak_memory_bytes) + ")";
    } else {
      const auto& p = best.candidate.plan;
      const auto& q = runner_up.candidate.plan;
      if (p.tp * p.cp * p.pp != q.tp * q.cp * q.pp)
        line += "fewer GPUs per model replica";
      else if (best.candidate.recompute != runner_up.candidate.recompute)
        line += "less recomputation";
      else
        line += "the plan's name (alphabetical)";
    }
  }
  return line;
}

std::string nothing_feasible_message(const SearchResult& r) {
  std::string m = "no feasible plan: " + std::to_string(r.enumerated) + " enumerated, " + std::to_string(r.invalid) +
                  " break a plan rule, " + std::to_string(r.out_of_memory) + " do not fit in " +
                  gib(r.memory_capacity) + ", " + std::to_string(r.errors) + " failed to simulate";
  // The most common rule (first problem's key and message start) and the smallest memory need.
  std::map<std::string, std::size_t> rules;
  const PlanEvaluation* smallest = nullptr;
  for (const auto& e : r.plans) {
    if (e.status == PlanStatus::kInvalid) ++rules[e.reason.substr(0, e.reason.find(';'))];
    if (e.status == PlanStatus::kOutOfMemory &&
        (smallest == nullptr || e.peak_memory_bytes < smallest->peak_memory_bytes))
      smallest = &e;
  }
  if (!rules.empty()) {
    const auto top =
        std::max_element(rules.begin(), rules.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    m += "; most common rule broken (" + std::to_string(top->second) + " plans): " + top->first;
  }
  if (smallest != nullptr) m += "; smallest memory need: " + smallest->name + " needs " + smallest->reason;
  m += ". Loosen --fix / --max-* limits, or use more GPUs (see the --csv list for every plan's reason)";
  return m;
}

std::string search_csv(const SearchResult& r) {
  std::string out =
      "index,plan,status,reason,tp,cp,pp,virtual_stages,dp,ep,micro_batch,schedule,sharding,recompute,sequence_"
      "parallel,"
      "scenario_plan,peak_memory_gib,analytical_step_time_s,step_time_s,refined,mfu,rank,compute_s,recompute_s,"
      "exposed_tp_s,exposed_cp_s,exposed_ep_s,exposed_pp_s,exposed_dp_s,bubble_s,optimizer_s,other_s\n";
  auto quoted = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  auto num = [](double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return std::string(buf);
  };
  for (std::size_t i = 0; i < r.plans.size(); ++i) {
    const auto& e = r.plans[i];
    const auto& p = e.candidate.plan;
    out += str(static_cast<std::int64_t>(i)) + "," + quoted(e.name) + "," + std::string(to_string(e.status)) + "," +
           quoted(e.reason) + "," + str(p.tp) + "," + str(p.cp) + "," + str(p.pp) + "," + str(p.virtual_stages) + "," +
           str(p.dp) + "," + str(p.ep) + "," + str(p.micro_batch) + "," + std::string(workload::to_string(p.schedule)) +
           "," + std::string(sharding_key(p.sharding)) + "," + std::string(recompute_name(e.candidate.recompute)) +
           "," + (p.sequence_parallel ? "true" : "false") + "," + (e.scenario_plan ? "true" : "false") + ",";
    out += e.status == PlanStatus::kInvalid ? "," : num(e.peak_memory_bytes / kGiB) + ",";
    if (e.status != PlanStatus::kOk) {
      out += ",,,,,,,,,,,,,,\n";
      continue;
    }
    const auto& b = e.breakdown;
    auto exposed = [&b](workload::Dim d) {
      const auto it = b.exposed.find(d);
      return it == b.exposed.end() ? 0.0 : it->second.seconds();
    };
    out += num(e.analytical_step_time.seconds()) + "," + num(e.step_time.seconds()) + "," +
           (e.refined ? "true" : "false") + "," + num(e.mfu) + "," + str(static_cast<std::int64_t>(e.rank)) + "," +
           num(b.compute.seconds()) + "," + num(b.recompute.seconds()) + "," + num(exposed(workload::Dim::kTp)) + "," +
           num(exposed(workload::Dim::kCp)) + "," + num(exposed(workload::Dim::kEp)) + "," +
           num(exposed(workload::Dim::kPp)) + "," + num(exposed(workload::Dim::kDp)) + "," + num(b.bubble.seconds()) +
           "," + num(b.optimizer.seconds()) + "," + num(b.other.seconds()) + "\n";
  }
  return out;
}

}  // namespace mfusim::scenario
