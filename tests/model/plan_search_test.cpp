// Plan search (scenario/plan_search.hpp): the space it enumerates against a hand count, that its plans
// are real scenarios, that --fix narrows it, that results do not depend on the thread count, the
// stated tie-break order, and (label slow) that published Megatron/NVIDIA plans rank near the top.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "config/overrides.hpp"
#include "core/error.hpp"
#include "scenario/plan_search.hpp"
#include "scenario/published_runs.hpp"
#include "scenario/scenario.hpp"

namespace mfusim::scenario {
namespace {

const std::filesystem::path kRoot = MFUSIM_SOURCE_DIR;
const std::filesystem::path kQuickstart = kRoot / "scenarios" / "quickstart.yaml";

// Quickstart (Llama 3.1 8B: 32 layers, 32 heads, 8 KV heads; one 8-GPU node; global batch 32) with
// cp, sharding and recompute pinned, pp <= 2 and micro-batches <= 2.
SearchOptions small_space() {
  SearchOptions o;
  o.fixes = {"parallel.cp=1", "parallel.sharding=optimizer", "training.recompute=none"};
  o.max_pp = 2;
  o.max_micro_batch = 2;
  o.threads = 1;
  return o;
}

TEST(PlanSearch, EnumerationMatchesHandCount) {
  // Hand count. tp in {1, 2, 4, 8} (divisors of 8 within the NVLink domain), pp in {1, 2} where it
  // divides 8 / tp; dp = 8 / (tp pp). (pipeline shape, schedule) per pp: pp = 1: 1; pp = 2: v = 1 with
  // 1f1b, gpipe, zb-h1, dualpipe (4) + interleaved with v in {2, 4, 8, 16} (32 layers divisible by
  // 2v) = 8. Micro-batches: divisors of 32 / dp up to 2 = {1, 2} for every dp here.
  //   tp=1: pp=1 (1 x 2) + pp=2 (8 x 2) = 18;  tp=2: 18;  tp=4: 18;  tp=8: pp=1 only, 2.  Total 56.
  // Every one is valid (interleaving needs micro-batches 32 / (mb dp) divisible by 2: always true), and
  // the scenario's plan (tp=2 pp=1 dp=4 mb=1 zero1) is among them.
  auto o = small_space();
  o.dry_run = true;
  const auto r = search_plans(kQuickstart, o);
  EXPECT_EQ(r.enumerated, 56u);
  EXPECT_EQ(r.plans.size(), 56u) << "the scenario's plan is inside the space, so nothing is appended";
  EXPECT_EQ(r.invalid, 0u);
  ASSERT_TRUE(r.scenario_plan.has_value());
  EXPECT_EQ(r.plans[*r.scenario_plan].name, "tp=2 cp=1 pp=1 v=1 dp=4 ep=1 mb=1 no-pp zero1 rc=none");
  std::size_t tp8 = 0;
  for (const auto& e : r.plans) tp8 += e.candidate.plan.tp == 8 ? 1u : 0u;
  EXPECT_EQ(tp8, 2u) << "tp=8 leaves pp=1, dp=1 and micro-batches 1 and 2";
}

TEST(PlanSearch, EveryEnumeratedPlanPassesItsChecksAndLoadsAsAScenario) {
  auto o = small_space();
  o.dry_run = true;
  o.fixes.push_back("parallel.tp=4");  // 18 plans: loading each scenario takes a moment
  const auto r = search_plans(kQuickstart, o);
  ASSERT_EQ(r.enumerated, 18u);
  const config::Node root = config::load_file(kQuickstart);
  std::size_t loaded = 0;
  for (const auto& e : r.plans) {
    ASSERT_NE(e.status, PlanStatus::kInvalid) << e.name << ": " << e.reason;
    if (e.status == PlanStatus::kOutOfMemory) continue;
    // The same plan through the scenario loader, with every rule and the memory check on.
    config::Node tree = root;
    for (const auto& s : plan_overrides(e.candidate)) config::apply_override(tree, s);
    const Scenario sc = build_scenario(tree, kQuickstart.string());
    EXPECT_EQ(sc.training->plan.gpus(), 8) << e.name;
    EXPECT_NEAR(sc.training->memory.total_bytes, e.peak_memory_bytes, 1.0) << e.name;
    ++loaded;
  }
  EXPECT_GT(loaded, 0u);
}

TEST(PlanSearch, HybridShardGroupsAreEnumeratedForShardedParameters) {
  // tp = pp = cp = 1 on 8 GPUs: dp = 8. Sharded parameters also run as hybrid sharding over shard
  // groups of 2 and 4 DP ranks (every divisor of dp from 2 up, below dp); the other shardings shard over
  // the whole DP group unless a shard group is pinned. Each plan loads as a scenario with the memory the
  // search gave it (parameters sharded over the group: more memory the smaller the group).
  auto o = small_space();
  o.dry_run = true;
  o.fixes = {"parallel.tp=1", "parallel.cp=1", "parallel.pp=1", "training.micro_batch=1", "training.recompute=none",
             "parallel.sharding=optimizer,parameters"};
  const auto r = search_plans(kQuickstart, o);
  std::vector<std::string> names;
  for (const auto& e : r.plans) names.push_back(e.name);
  const std::vector<std::string> want{"tp=1 cp=1 pp=1 v=1 dp=8 ep=1 mb=1 no-pp zero1 rc=none",
                                      "tp=1 cp=1 pp=1 v=1 dp=8 ep=1 mb=1 no-pp zero3 rc=none",
                                      "tp=1 cp=1 pp=1 v=1 dp=8 ep=1 mb=1 no-pp zero3/2 rc=none",
                                      "tp=1 cp=1 pp=1 v=1 dp=8 ep=1 mb=1 no-pp zero3/4 rc=none"};
  EXPECT_EQ(names, want);
  const config::Node root = config::load_file(kQuickstart);
  std::map<std::int64_t, double> memory_by_group;
  for (const auto& e : r.plans) {
    if (e.candidate.plan.sharding != workload::Sharding::kParameters) continue;
    config::Node tree = root;
    for (const auto& s : plan_overrides(e.candidate)) config::apply_override(tree, s);
    const Scenario sc = build_scenario(tree, kQuickstart.string(), /*check_plan=*/false);
    EXPECT_EQ(sc.training->plan.shard_size(), e.candidate.plan.shard_size()) << e.name;
    EXPECT_NEAR(sc.training->memory.total_bytes, e.peak_memory_bytes, 1.0) << e.name;
    memory_by_group[e.candidate.plan.shard_size()] = e.peak_memory_bytes;
  }
  ASSERT_EQ(memory_by_group.size(), 3u);
  EXPECT_GT(memory_by_group[2], memory_by_group[4]) << "smaller shard groups hold a larger share of the parameters";
  EXPECT_GT(memory_by_group[4], memory_by_group[8]) << "smaller shard groups hold a larger share of the parameters";
  // A pinned shard group applies to every sharding whose dp it divides (and to none only as the whole group).
  o.fixes.push_back("parallel.shard_group=4");
  const auto pinned = search_plans(kQuickstart, o);
  names.clear();
  for (const auto& e : pinned.plans) names.push_back(e.name);
  const std::vector<std::string> want_pinned{"tp=1 cp=1 pp=1 v=1 dp=8 ep=1 mb=1 no-pp zero1/4 rc=none",
                                             "tp=1 cp=1 pp=1 v=1 dp=8 ep=1 mb=1 no-pp zero3/4 rc=none"};
  EXPECT_EQ(names, want_pinned);
  ASSERT_TRUE(pinned.scenario_plan.has_value());
  EXPECT_EQ(pinned.plans[*pinned.scenario_plan].candidate.plan.shard_size(), 4) << "the pinned scenario plan is hybrid too";
}

TEST(PlanSearch, MoeModelsSearchExpertTensorParallelismAndFoldedExpertPlacement) {
  // Mixtral 8x7B on 64 GPUs at tp 2, pp 1, cp 1 (dp 32): expert_tp is each divisor of tp (1, 2), and for
  // each, ep every divisor of the 8 experts with ep x expert_tp dividing tp x cp x dp = 64. expert_tp = tp
  // is Megatron's default and keeps the plain name; expert_tp 1 shows as "/etp1". Each plan loads as a
  // scenario through its --set overrides (expert_tp included for MoE models) with the memory the
  // search gave it.
  const auto mixtral = kRoot / "scenarios" / "mixtral-8x7b-ep.yaml";
  SearchOptions o;
  o.dry_run = true;
  o.fixes = {"parallel.tp=2", "parallel.pp=1", "parallel.cp=1", "training.micro_batch=1", "training.recompute=full",
             "parallel.sharding=optimizer"};
  const auto r = search_plans(mixtral, o);
  EXPECT_TRUE(r.moe);
  std::vector<std::string> names;
  for (const auto& e : r.plans) names.push_back(e.name);  // the scenario's plan (ep 8, expert_tp 2) is among them
  std::vector<std::string> want;
  for (const char* etp : {"/etp1", ""}) {
    for (int ep : {1, 2, 4, 8}) want.push_back("tp=2 cp=1 pp=1 v=1 dp=32 ep=" + std::to_string(ep) + etp + " mb=1 no-pp zero1 rc=full");
  }
  EXPECT_EQ(names, want);
  const config::Node root = config::load_file(mixtral);
  for (const auto& e : r.plans) {
    if (e.status == PlanStatus::kInvalid) continue;
    config::Node tree = root;
    for (const auto& s : plan_overrides(e.candidate, r.moe)) config::apply_override(tree, s);
    const Scenario sc = build_scenario(tree, mixtral.string(), /*check_plan=*/false);
    EXPECT_EQ(sc.training->plan.expert_tp_size(), e.candidate.plan.expert_tp_size()) << e.name;
    EXPECT_NEAR(sc.training->memory.total_bytes, e.peak_memory_bytes, 1.0) << e.name;
  }
  o.fixes.push_back("parallel.expert_tp=1");
  for (const auto& e : search_plans(mixtral, o).plans) {
    EXPECT_EQ(e.candidate.plan.expert_tp_size(), 1) << e.name << ": --fix parallel.expert_tp=1 (the scenario's plan too)";
  }
}

TEST(PlanSearch, FixNarrowsTheSpace) {
  auto o = small_space();
  o.dry_run = true;
  const auto all = search_plans(kQuickstart, o);
  o.fixes.push_back("parallel.tp=2");
  const auto fixed = search_plans(kQuickstart, o);
  EXPECT_EQ(fixed.enumerated, 18u) << "tp=2: pp=1 (2 micro-batches) + pp=2 (8 shapes x 2 micro-batches)";
  EXPECT_LT(fixed.enumerated, all.enumerated);
  for (const auto& e : fixed.plans) EXPECT_EQ(e.candidate.plan.tp, 2) << e.name;
  o.max_pp = 1;
  EXPECT_EQ(search_plans(kQuickstart, o).enumerated, 2u) << "--max-pp 1 leaves tp=2 pp=1 with mb 1 and 2";
}

TEST(PlanSearch, FixWithAListAllowsExactlyThoseValues) {
  // small_space() pins recompute to none; the list form lets a key take several values. Hand count
  // with tp=2: pp=1 (1 shape) + pp=2 (1f1b, gpipe, zb-h1, dualpipe and interleaved v = 2, 4, 8, 16:
  // 8 shapes); schedule=1f1b,interleaved keeps pp=1 and, at pp=2, 1f1b + the 4 interleaved shapes
  // (6 shapes); x 2 micro-batches x 2 recomputes (none, full) x 2 sequence-parallel settings = 48, the
  // scenario's own plan among them.
  auto o = small_space();
  o.dry_run = true;
  o.fixes = {"parallel.cp=1",
             "parallel.sharding=optimizer",
             "parallel.tp=2",
             "training.recompute=none,full",
             "parallel.schedule=1f1b,interleaved",
             "parallel.sequence_parallel=true,false"};
  const auto r = search_plans(kQuickstart, o);
  EXPECT_EQ(r.enumerated, 48u);
  std::size_t sp = 0, full = 0;
  for (const auto& e : r.plans) {
    EXPECT_NE(e.candidate.recompute, workload::Recompute::kSelective) << e.name << ": selective is not in the list";
    EXPECT_TRUE(e.candidate.plan.schedule == workload::PipelineSchedule::kOneFOneB ||
                e.candidate.plan.schedule == workload::PipelineSchedule::kInterleaved)
        << e.name << ": only 1f1b and interleaved were listed";
    sp += e.candidate.plan.sequence_parallel ? 1u : 0u;
    full += e.candidate.recompute == workload::Recompute::kFull ? 1u : 0u;
  }
  EXPECT_EQ(sp, 24u) << "half the plans with and half without sequence parallelism";
  EXPECT_EQ(full, 24u) << "half the plans with full recomputation";
  // The scenario's own plan keeps its values: the list is a constraint on the search, not an edit.
  ASSERT_TRUE(r.scenario_plan.has_value());
  EXPECT_EQ(r.plans[*r.scenario_plan].candidate.recompute, workload::Recompute::kNone);
}

TEST(PlanSearch, HeadroomShrinksTheMemoryThatPlansMayUse) {
  auto o = small_space();
  o.dry_run = true;
  const auto all = search_plans(kQuickstart, o);
  o.headroom_bytes = 16.0 * 1024 * 1024 * 1024;
  const auto tight = search_plans(kQuickstart, o);
  EXPECT_GT(tight.out_of_memory, all.out_of_memory) << "16 GiB of headroom must rule out some plans that fit in 80 GiB";
  std::size_t checked = 0;
  for (const auto& e : tight.plans) {
    if (e.status == PlanStatus::kOutOfMemory) {
      EXPECT_GT(e.peak_memory_bytes, tight.memory_capacity - o.headroom_bytes) << e.name;
      EXPECT_NE(e.reason.find("headroom"), std::string::npos) << e.reason;
    } else if (e.peak_memory_bytes > 0.0) {
      EXPECT_LE(e.peak_memory_bytes, tight.memory_capacity - o.headroom_bytes) << e.name;
      ++checked;
    }
  }
  EXPECT_GT(checked, 0u);
  o.headroom_bytes = 100.0 * 1024 * 1024 * 1024;
  EXPECT_THROW(search_plans(kQuickstart, o), core::InputError) << "headroom above the capacity";
  // --headroom usable: the rated 80 GiB less the H100's measured usable memory (85,899,345,920 -
  // 83,655,589,888 B), plus any size given with it.
  o.headroom_bytes = 0.0;
  o.headroom_usable = true;
  const auto usable = search_plans(kQuickstart, o);
  EXPECT_DOUBLE_EQ(usable.headroom_bytes, 85899345920.0 - 83655589888.0);
  o.headroom_bytes = 1024.0 * 1024 * 1024;
  EXPECT_DOUBLE_EQ(search_plans(kQuickstart, o).headroom_bytes, 85899345920.0 - 83655589888.0 + 1024.0 * 1024 * 1024);
  EXPECT_GE(usable.out_of_memory, all.out_of_memory);
}

TEST(PlanSearch, FixListErrorsNameTheProblem) {
  auto o = small_space();
  o.dry_run = true;
  o.fixes = {"parallel.order=tp,dp,pp,cp"};
  try {
    search_plans(kQuickstart, o);
    FAIL() << "a list for an unsearched key must be refused";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("a list of values is only allowed for a searched key"), std::string::npos)
        << e.what();
  }
  o.fixes = {"training.recompute=none,,full"};
  EXPECT_THROW(search_plans(kQuickstart, o), core::InputError) << "an empty list element";
  o.fixes = {"training.recompute=none,ful"};
  try {
    search_plans(kQuickstart, o);
    FAIL() << "an unknown value in the list must be refused";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("ful"), std::string::npos) << e.what();
  }
}

TEST(PlanSearch, ResultsDoNotDependOnTheThreadCount) {
  SearchOptions o;
  o.fixes = {"parallel.tp=2", "parallel.cp=1"};
  o.max_pp = 2;
  o.max_micro_batch = 2;
  o.threads = 1;
  const auto one = search_plans(kQuickstart, o);
  o.threads = 2;
  const auto two = search_plans(kQuickstart, o);
  ASSERT_FALSE(one.ranking.empty());
  EXPECT_EQ(search_csv(one), search_csv(two));
  EXPECT_EQ(one.ranking, two.ranking);
  // Every simulated plan is ranked, best first, in the stated order.
  for (std::size_t k = 1; k < one.ranking.size(); ++k) {
    EXPECT_FALSE(ranks_before(one.plans[one.ranking[k]], one.plans[one.ranking[k - 1]]));
  }
}

TEST(PlanSearch, FlowScenariosRefineTheBestAtTheirOwnFidelity) {
  SearchOptions o;
  o.overrides = {"fidelity.collectives=flow"};
  o.fixes = {"parallel.cp=1", "parallel.pp=1", "training.recompute=none", "training.micro_batch=1"};
  o.refine = 2;
  o.threads = 2;
  const auto r = search_plans(kQuickstart, o);
  EXPECT_EQ(r.refine_fidelity, Fidelity::kFlow);
  ASSERT_GE(r.ranking.size(), 3u);
  EXPECT_EQ(r.refined, 2u);
  // The refined plans come first (by their flow time), then the rest by analytical time.
  EXPECT_TRUE(r.plans[r.ranking[0]].refined);
  EXPECT_TRUE(r.plans[r.ranking[1]].refined);
  EXPECT_FALSE(r.plans[r.ranking[2]].refined);
  for (const auto& e : r.plans) {
    if (e.refined) {
      // One node: little for flows to contend on, so the flow time stays close to the analytical one
      // (not necessarily above it: rounding of the two models differs by picoseconds).
      EXPECT_NEAR(e.step_time.seconds() / e.analytical_step_time.seconds(), 1.0, 0.2) << e.name;
    }
  }
}

TEST(PlanSearch, RecomputationIsDominatedWhenLessFits) {
  SearchOptions o;
  o.fixes = {"parallel.tp=2", "parallel.pp=1", "parallel.cp=1", "parallel.sharding=optimizer",
             "training.micro_batch=1"};
  const auto r = search_plans(kQuickstart, o);
  // One plan shape, three recompute variants; rc=none fits (the scenario itself runs it), so selective
  // and full are dominated and only rc=none is simulated.
  ASSERT_EQ(r.enumerated, 3u);
  EXPECT_EQ(r.dominated, 2u);
  EXPECT_EQ(r.simulated, 1u);
  for (const auto& e : r.plans) {
    if (e.candidate.recompute != workload::Recompute::kNone) {
      EXPECT_EQ(e.status, PlanStatus::kDominated) << e.name;
    }
  }
}

// Quickstart with pipelines up to 4 stages (1f1b, gpipe, zb-h1, dualpipe, interleaved), micro-batches up
// to 4, TP up to 8 (TP collectives on the compute stream), every sharding and recompute mode.
SearchOptions bound_space() {
  SearchOptions o;
  o.fixes = {"parallel.cp=1"};
  o.max_pp = 4;
  o.max_micro_batch = 4;
  o.threads = 2;
  return o;
}

TEST(PlanSearch, LowerBoundIsBelowEverySimulatedStepTime) {
  // The branch and bound is sound only if the bound never exceeds what the step simulator returns:
  // checked on every plan of the space. K larger than the space: nothing is pruned, every bound computed.
  auto o = bound_space();
  o.keep = 1000000;
  // Also with Megatron's unfused attention and dropout (the SC'21 / Korthikanti replays): the bound
  // must use the same attention kernels as the simulation; and with eager kernels and every recompute
  // policy (the eager rerun stops at the block's last saved tensor, so it is shorter than a forward).
  for (const int variant : {0, 1, 2, 3}) {
    const bool overlap = variant == 1;
    auto ob = o;
    if (overlap) ob.fixes.push_back("parallel.tp_comm_overlap=true");
    if (variant == 2) {
      ob.overrides.push_back("training.attention=unfused");
      ob.overrides.push_back("training.dropout=0.1");
    }
    if (variant == 3) {
      ob.overrides.push_back("training.kernels=eager");
      ob.fixes.push_back("training.recompute=none,selective,save_qkv_proj,full");
    }
    const auto b = search_plans(kQuickstart, ob);
    ASSERT_GT(b.ranking.size(), 100u);
    double worst = 1.0, sum = 0.0;
    std::size_t n = 0;
    EXPECT_EQ(b.pruned, 0u);
    for (const auto& e : b.plans) {
      if (e.status != PlanStatus::kOk) continue;
      ASSERT_GT(e.lower_bound, core::Duration::zero()) << e.name;
      EXPECT_LE(e.lower_bound, e.analytical_step_time)
          << e.name << ": bound " << e.lower_bound.seconds() << " s above the simulated "
          << e.analytical_step_time.seconds() << " s (tp_comm_overlap " << overlap << ")";
      const double ratio = e.lower_bound.seconds() / e.analytical_step_time.seconds();
      worst = std::min(worst, ratio);
      sum += ratio;
      ++n;
    }
    std::printf("variant %d: %zu plans, bound / step time: mean %.3f, lowest %.3f\n", variant, n,
                sum / static_cast<double>(n), worst);
    // Compute, bubble and (without overlap) TP collectives are most of a step on one node: a loose
    // bound would prune nothing.
    EXPECT_GT(sum / static_cast<double>(n), 0.8);
  }
}

TEST(PlanSearch, LowerBoundIsBelowTheSimulatedStepTimeOfMoePlans) {
  // The bound with MoE layers: the blocking dispatch and combine of unpaired passes count (all-to-all
  // dispatcher, DeepEP's longer hop), the EP and expert-TP traffic of paired passes (DualPipe) does not.
  // Mixtral 8x7B on 64 H100 (GBS 256), tp 4 (expert_tp 1, 2, 4), pp 2 with every schedule, micro-batch
  // 2; nothing pruned. Before the expert-TP collectives of paired passes were left out, the DualPipe
  // plan with ep 8 and expert_tp 4 had its bound 2-3% above its simulated step.
  const auto mixtral = kRoot / "scenarios" / "mixtral-8x7b-ep.yaml";
  SearchOptions o;
  o.keep = 1000000;
  o.threads = 2;
  o.max_pp = 2;
  o.fixes = {"parallel.cp=1", "parallel.tp=4", "parallel.pp=2", "training.micro_batch=2", "training.recompute=none,full",
             "parallel.sharding=optimizer"};
  for (const int variant : {0, 1, 2}) {
    auto ob = o;
    if (variant == 1) {
      ob.overrides.push_back("parallel.ep_dispatcher=deepep");
      ob.overrides.push_back("training.precision=fp8");
    }
    if (variant == 2) ob.overrides.push_back("parallel.ep_comm_overlap=true");  // every schedule pairs: interleaved's combined 1F1B
    const auto r = search_plans(mixtral, ob);
    EXPECT_EQ(r.pruned, 0u);
    std::size_t n = 0, dualpipe = 0, paired_etp = 0, combined = 0;
    for (const auto& e : r.plans) {
      if (e.status != PlanStatus::kOk) continue;
      ++n;
      const auto& p = e.candidate.plan;
      if (p.schedule == workload::PipelineSchedule::kDualPipe) ++dualpipe;
      if (p.schedule == workload::PipelineSchedule::kInterleaved && p.pairs_passes()) ++combined;
      if (p.pairs_passes() && p.expert_tp_size() > 1) ++paired_etp;
      EXPECT_LE(e.lower_bound, e.analytical_step_time)
          << e.name << " (variant " << variant << "): bound " << e.lower_bound.seconds() << " s above the simulated "
          << e.analytical_step_time.seconds() << " s";
    }
    std::printf("variant %d: %zu MoE plans, %zu DualPipe, %zu paired with expert_tp > 1, %zu interleaved combined\n", variant, n,
                dualpipe, paired_etp, combined);
    EXPECT_GT(n, 20u);
    EXPECT_GT(paired_etp, 0u) << "the space must hold the case that was unsound";
    if (variant == 2) {
      EXPECT_GT(combined, 0u) << "ep_comm_overlap on: interleaved plans run the combined 1F1B";
    }
  }
}

TEST(PlanSearch, BoundPruningKeepsTheTopKAndDoesNotDependOnTheThreadCount) {
  auto o = bound_space();
  o.keep = 5;
  o.bound = false;
  const auto all = search_plans(kQuickstart, o);
  o.bound = true;
  const auto pruned = search_plans(kQuickstart, o);
  o.threads = 1;
  const auto pruned1 = search_plans(kQuickstart, o);
  EXPECT_EQ(all.pruned, 0u);
  EXPECT_GT(pruned.pruned, 0u) << "the bound should spare some simulations on this space";
  EXPECT_EQ(pruned.simulated + pruned.pruned, all.simulated);
  ASSERT_GE(pruned.ranking.size(), 5u);
  for (std::size_t k = 0; k < 5; ++k) {
    const auto& a = all.plans[all.ranking[k]];
    const auto& b = pruned.plans[pruned.ranking[k]];
    EXPECT_EQ(a.name, b.name) << "rank " << k + 1;
    EXPECT_EQ(a.step_time, b.step_time) << "rank " << k + 1;
  }
  EXPECT_EQ(search_csv(pruned), search_csv(pruned1)) << "the stopping rule runs between fixed batches only";
  // Every pruned plan's bound is above the 5th best time, so it could not have entered the top 5.
  const auto fifth = pruned.plans[pruned.ranking[4]].step_time;
  for (const auto& e : pruned.plans) {
    if (e.status == PlanStatus::kPruned) {
      EXPECT_GT(e.lower_bound, fifth) << e.name;
      EXPECT_NE(e.reason.find("lower bound"), std::string::npos) << e.reason;
    }
  }
  std::printf("bound pruning: %zu simulated, %zu pruned (of %zu)\n", pruned.simulated, pruned.pruned, all.simulated);
}

PlanEvaluation evaluation(std::string name, std::int64_t step_ps, double memory, std::int64_t tp, std::int64_t pp,
                          workload::Recompute rc = workload::Recompute::kNone) {
  PlanEvaluation e;
  e.name = std::move(name);
  e.step_time = core::Duration::from_ps(step_ps);
  e.peak_memory_bytes = memory;
  e.candidate.plan.tp = tp;
  e.candidate.plan.pp = pp;
  e.candidate.recompute = rc;
  return e;
}

TEST(PlanSearch, TieBreakOrder) {
  // Step time first.
  EXPECT_TRUE(ranks_before(evaluation("b", 1, 9, 8, 8), evaluation("a", 2, 1, 1, 1)));
  // Equal time: lower peak memory.
  EXPECT_TRUE(ranks_before(evaluation("b", 5, 1, 8, 8), evaluation("a", 5, 2, 1, 1)));
  // Equal memory: fewer GPUs per model replica (tp x cp x pp).
  EXPECT_TRUE(ranks_before(evaluation("b", 5, 1, 2, 2), evaluation("a", 5, 1, 8, 1)));
  // Equal replica: less recomputation.
  EXPECT_TRUE(ranks_before(evaluation("b", 5, 1, 2, 2, workload::Recompute::kNone),
                           evaluation("a", 5, 1, 4, 1, workload::Recompute::kFull)));
  // Everything equal: the plan's name.
  EXPECT_TRUE(ranks_before(evaluation("a", 5, 1, 2, 2), evaluation("b", 5, 1, 4, 1)));
  EXPECT_FALSE(ranks_before(evaluation("a", 5, 1, 2, 2), evaluation("a", 5, 1, 2, 2)));
}

TEST(PlanSearch, ExplainWinNamesTheDifferingKeysAndTheLargestBreakdownGaps) {
  auto best = evaluation("tp=8 pp=4 mb=1", 4'000'000'000'000, 1, 8, 4);
  auto second = evaluation("tp=4 pp=8 mb=1", 5'000'000'000'000, 1, 4, 8);
  best.breakdown.bubble = core::Duration::from_ms(200);
  second.breakdown.bubble = core::Duration::from_ms(1000);
  best.breakdown.exposed[workload::Dim::kTp] = core::Duration::from_ms(500);
  second.breakdown.exposed[workload::Dim::kTp] = core::Duration::from_ms(300);
  EXPECT_EQ(explain_win(best, second),
            "tp=8 pp=4 beats tp=4 pp=8: 1.000 s faster (4.000 s vs 5.000 s): 800.0 ms less pipeline bubble, "
            "200.0 ms more exposed tp communication");
  best.peak_memory_bytes = 1024.0 * 1024.0 * 1024.0;
  auto twin = evaluation("tp=8 pp=4 mb=2", 4'000'000'000'000, 2 * best.peak_memory_bytes, 8, 4);
  EXPECT_EQ(explain_win(best, twin),
            "mb=1 beats mb=2: the same step time (4.000 s); wins the tie-break on peak memory (1.0 GiB vs 2.0 GiB)");
}

TEST(PlanSearch, BadFixesAreInputErrors) {
  SearchOptions o;
  o.fixes = {"parallel.tpp=8"};
  try {
    search_plans(kQuickstart, o);
    FAIL() << "expected an InputError";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'parallel.tp'?"), std::string::npos) << e.what();
  }
  o.fixes = {"parallel.tp=3"};
  EXPECT_THROW(search_plans(kQuickstart, o), core::InputError);
  o.fixes = {"parallel.tp=2", "parallel.tp=4"};
  EXPECT_THROW(search_plans(kQuickstart, o), core::InputError);
}

TEST(PlanSearch, NothingFeasibleIsReported) {
  SearchOptions o;
  o.fixes = {"parallel.tp=1",           "parallel.pp=1",          "parallel.cp=1",
             "training.recompute=none", "parallel.sharding=none", "training.micro_batch=4"};
  const auto r = search_plans(kQuickstart, o);
  EXPECT_TRUE(r.ranking.empty());
  const auto m = nothing_feasible_message(r);
  EXPECT_NE(m.find("no feasible plan"), std::string::npos) << m;
  EXPECT_NE(m.find("do not fit"), std::string::npos) << m;
}

// Published plans: the plan a Megatron/NVIDIA team ran should be among the best the simulator finds for
// the same model, cluster and batch, and the best found no slower than it. Whole space, every core.
struct Published {
  const char* id;
  // Whether the published plan is expected in the top 10%. Megatron-LM's README benchmarks were tuned
  // for throughput; Korthikanti et al. studied recomputation and sequence parallelism at a fixed TP=8
  // on one node, so faster plans exist there (docs/search.md: the search finds tp=4 pp=2 without
  // recomputation 8% faster; the published plan ranks about 27%). That row still checks that the best
  // found is no slower than the published plan.
  bool expect_top_ten_percent;
};

class PlanSearchSlow : public ::testing::TestWithParam<Published> {};

std::string test_name(const ::testing::TestParamInfo<Published>& p) {
  std::string n = p.param.id;
  std::replace_if(
      n.begin(), n.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return n;
}

TEST_P(PlanSearchSlow, PublishedPlanRanksInTheTopTenPercent) {
  const auto file = kRoot / "tests" / "data" / "validation" / "published-runs.yaml";
  const config::Node tree = published_run_scenario(file, GetParam().id);
  // With the branch and bound (the default): the best plan is exact, and the published plan's rank among
  // every plan that fits is at most its rank among the simulated ones plus the pruned plans whose bound
  // is below its time. Asserting that upper bound is at least as strict as the exact rank (which
  // --no-bound gives, 10-40x slower; docs/search.md lists it).
  const auto r = search_plans(tree, GetParam().id, SearchOptions{});
  ASSERT_TRUE(r.scenario_plan.has_value());
  const auto& own = r.plans[*r.scenario_plan];
  ASSERT_EQ(own.status, PlanStatus::kOk) << own.name << ": " << own.reason;
  const auto& best = r.plans[r.ranking.front()];
  const std::size_t rank_at_most = own.rank + r.pruned_maybe_before_scenario_plan;
  const std::size_t fit = r.ranking.size() + r.pruned;
  const double share = static_cast<double>(rank_at_most) / static_cast<double>(fit);
  if (GetParam().expect_top_ten_percent) {
    EXPECT_LE(share, 0.10) << GetParam().id << ": published plan " << own.name << " ranks at most " << rank_at_most
                           << " of " << fit << " (" << own.step_time.seconds() << " s); best " << best.name << " "
                           << best.step_time.seconds() << " s";
  }
  EXPECT_LE(best.step_time, own.step_time);
  std::printf("%s: published %s rank at most %zu of %zu (%.1f%%), %.3f s; best %s %.3f s\n", GetParam().id,
              own.name.c_str(), rank_at_most, fit, 100.0 * share, own.step_time.seconds(), best.name.c_str(),
              best.step_time.seconds());
}

INSTANTIATE_TEST_SUITE_P(Published, PlanSearchSlow,
                         ::testing::Values(Published{"megatron-readme-h100-weak-1.7B", true},
                                           Published{"megatron-readme-h100-weak-7.1B", true},
                                           Published{"dgxc-nemotron4-340B-bf16-256xH100", true},
                                           Published{"kor22-22B-selective-sp", false}),
                         test_name);

}  // namespace
}  // namespace mfusim::scenario
