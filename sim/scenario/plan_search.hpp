#pragma once
// Plan search (`mfusim search`): the fastest parallel plan for a scenario's model, cluster and global
// batch. The scenario's own plan is only one candidate; the search enumerates the plan space, drops
// what breaks a rule or does not fit, simulates the rest and ranks them (docs/search.md).
//
// Space, enumerated in this nested order (outermost first), so plan i is the same plan whatever the
// thread count:
//   tp       divisors of the cluster's GPUs up to the NVLink domain (the node's GPUs; --max-tp)
//   cp       divisors of the GPUs that keep seq / cp >= kMinTokensPerCpRank tokens per rank (--max-cp)
//   pp       divisors of GPUs / (tp x cp) up to the layer count (--max-pp)
//   dp       what is left: GPUs / (tp x cp x pp)
//   virtual  1, and for pp > 1 every v >= 2 with layers divisible by pp x v (Megatron's interleaving
//            needs whole layers per chunk; --max-virtual-stages)
//   schedule pp = 1: none; v = 1: 1f1b, gpipe, zb-h1 and dualpipe (even pp); v > 1: interleaved
//   ep       MoE models: divisors of the experts with ep x expert_tp dividing tp x cp x dp; dense: 1
//   micro    divisors of global_batch / dp up to --max-micro-batch (default kDefaultMaxMicroBatch)
//   sharding none, optimizer (ZeRO-1), gradients (ZeRO-2), parameters (ZeRO-3/FSDP); dp x cp = 1: none
//   recompute none, selective, full
// Sequence parallelism is on whenever tp > 1 (it divides activations by tp at the same communication
// volume, Korthikanti et al. 2022); every other plan key (order, cp_kind, expert_tp, overlap flags,
// bucket size, moe_imbalance) keeps the scenario's value. `--fix key=value` pins any plan key.
// The scenario's own plan (with the fixes) is always evaluated too, even when outside the space.
//
// Pruning and ranking:
//   1. structural: workload::check_plan (status invalid, with the broken rule);
//   2. memory: workload::estimate_memory against the GPU's capacity, closed form (status oom);
//   2b. recomputation: a plan that fits with less recomputation (none < selective < full) and is
//      otherwise identical is never slower (recomputation only adds kernels to the backward pass; memory
//      does not enter the step time), so the plans with more are not simulated (status dominated);
//   3. survivors simulated with analytical collectives (symmetric expansion), in parallel, in increasing
//      order of a lower bound on their step time (busiest stage's kernels and compute-stream TP
//      collectives plus pipeline fill and drain, from the same op lists, kernel costs and collective
//      model), in fixed batches; between batches the search stops once the K-th best simulated time is
//      below the next bound (status pruned; K = max(keep, 2, refine)); plans with identical step programs
//      (zero1 / zero2 twins: the step simulator does not tell them apart) share one simulation;
//   4. the best `refine` re-simulated at the scenario's own fidelity when that is not analytical
//      (flow collectives); the final ranking puts those first, by their refined time, then the rest.
//   Ties (equal step time in picoseconds) are broken by: lower peak memory, then fewer GPUs per model
//   replica (tp x cp x pp), then less recompute, then the plan's canonical string (plan_string).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/node.hpp"
#include "core/time.hpp"
#include "scenario/training.hpp"
#include "workload/parallel_plan.hpp"
#include "workload/step_simulator.hpp"

namespace mfusim::scenario {

// Context parallelism below this many tokens per rank splits attention into chunks too small to hide
// the KV exchange; the search does not go there unless --max-cp says so (docs/search.md).
inline constexpr std::int64_t kMinTokensPerCpRank = 1024;
// Published Megatron/NVIDIA runs use micro-batches of 1 to 16 (tests/data/validation/published-runs.yaml).
inline constexpr std::int64_t kDefaultMaxMicroBatch = 16;

struct PlanCandidate {
  workload::ParallelPlan plan;
  workload::Recompute recompute = workload::Recompute::kNone;
};

// "tp=8 cp=1 pp=4 v=5 dp=32 ep=1 mb=1 interleaved zero1 selective" ("/no-sp" after tp when tp > 1
// without sequence parallelism, "/etpN" after ep when expert_tp is not tp): unique within one search,
// and the last tie-break.
std::string plan_string(const PlanCandidate& c);
// The `--set` overrides that turn the scenario into this plan (`mfusim run SCENARIO --set ...`); with
// `moe`, parallel.expert_tp too (a searched key of MoE models only).
std::vector<std::string> plan_overrides(const PlanCandidate& c, bool moe = false);

enum class PlanStatus : std::uint8_t { kOk, kInvalid, kOutOfMemory, kDominated, kError, kPruned };
std::string_view to_string(PlanStatus s);

struct PlanEvaluation {
  PlanCandidate candidate;
  std::string name;            // plan_string
  bool scenario_plan = false;  // the scenario's own plan
  PlanStatus status = PlanStatus::kOk;
  std::string reason;  // invalid / oom / error: why
  double peak_memory_bytes = 0.0;
  // Simulated (status ok):
  core::Duration analytical_step_time;  // analytical collectives
  core::Duration step_time;             // the refined time when refined, else the analytical one
  bool refined = false;
  double mfu = 0.0;                   // Megatron convention, on step_time
  workload::StepBreakdown breakdown;  // of the run that gave step_time
  std::size_t rank = 0;               // 1-based place in the ranking (0: not ranked)
  // Branch and bound (docs/search.md): a lower bound on the analytical step time, from the same kernel
  // costs and collective model as the step simulator (0 when not computed: invalid, oom, dominated).
  core::Duration lower_bound;
};

struct SearchOptions {
  std::vector<std::string> fixes;      // "parallel.tp=8": pins a plan key
  std::vector<std::string> overrides;  // "cluster.nodes=64": changes the scenario before the search
  std::int64_t max_tp = 0;             // 0: the NVLink domain (GPUs per node)
  std::int64_t max_pp = 0;             // 0: the layer count
  std::int64_t max_cp = 0;             // 0: seq / kMinTokensPerCpRank
  std::int64_t max_micro_batch = kDefaultMaxMicroBatch;
  std::int64_t min_micro_batch = 1;
  // Memory kept free on every GPU (bytes): a plan fits when its modelled peak is at most the capacity
  // minus this (fragmentation, NCCL buffers, CUDA context beyond what the memory model counts).
  double headroom_bytes = 0.0;
  // Add to it the GPU's rated capacity less its usable memory (the catalog's usable_memory: driver
  // reservation, CUDA context, libraries, NCCL; docs/models/memory.md), i.e. check against the usable memory.
  bool headroom_usable = false;
  std::int64_t max_virtual_stages = 0;  // 0: no limit but the layers
  std::size_t refine = 16;              // re-simulated at the scenario's fidelity
  unsigned threads = 0;                 // 0: all cores
  bool dry_run = false;                 // enumerate and prune only (no simulation)
  // Branch and bound: simulate in increasing order of the step-time lower bound, in batches of
  // kBoundBatch, and stop when the keep-th best simulated time is below the next plan's bound. The best
  // max(keep, 2, refine when refining) plans are exact; false simulates every survivor (--no-bound).
  bool bound = true;
  std::size_t keep = 1;  // the caller's --top
  // Progress: phase ("simulating", "refining"), jobs done, jobs in the phase. Serialised.
  std::function<void(std::string_view, std::size_t, std::size_t)> progress;
};

struct SearchResult {
  std::string scenario;  // name
  std::int64_t gpus = 0;
  bool moe = false;                                  // the model has experts (expert_tp is searched)
  double memory_capacity = 0.0;                      // bytes per GPU
  double headroom_bytes = 0.0;                       // kept free (SearchOptions::headroom_bytes)
  Fidelity refine_fidelity = Fidelity::kAnalytical;  // the scenario's collectives fidelity
  std::vector<PlanEvaluation> plans;                 // enumeration order; the scenario's plan last if outside the space
  std::vector<std::size_t> ranking;                  // indices into plans (status ok), best first
  std::optional<std::size_t> scenario_plan;          // index of the scenario's own plan
  std::size_t enumerated = 0, invalid = 0, out_of_memory = 0, dominated = 0, simulated = 0, refined = 0, errors = 0;
  std::size_t pruned = 0;  // status pruned: lower bound above the K-th best simulated time
  // Pruned plans whose bound is not above the scenario's plan's time: they might rank before it, so its
  // rank is exact only when this is 0 (else between rank and rank + this).
  std::size_t pruned_maybe_before_scenario_plan = 0;
  std::size_t simulations = 0;  // step simulations run at analytical fidelity (identical programs share one)
};

// Throws core::InputError for a bad scenario, a bad --fix / --set or bad limits. A search in which no
// plan is feasible returns an empty ranking (the caller reports why: nothing_feasible_message).
SearchResult search_plans(const std::filesystem::path& scenario, const SearchOptions& options);
SearchResult search_plans(const config::Node& root, const std::string& source, const SearchOptions& options);

// Plans simulated per batch in bound order; the stop test runs between batches only, so the result does
// not depend on the thread count.
inline constexpr std::size_t kBoundBatch = 32;

// Whether a ranks before b (step time, then the tie-breaks above).
bool ranks_before(const PlanEvaluation& a, const PlanEvaluation& b);

// One line on why `best` beats `runner_up`: the step-time gap and the breakdown items that differ most.
std::string explain_win(const PlanEvaluation& best, const PlanEvaluation& runner_up);

// Why nothing is feasible: counts and the most common reasons.
std::string nothing_feasible_message(const SearchResult& r);

// Every evaluated plan as CSV (one row per plan, enumeration order), byte-identical for equal inputs.
std::string search_csv(const SearchResult& r);

}  // namespace mfusim::scenario
