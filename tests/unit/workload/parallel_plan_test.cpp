#include "workload/parallel_plan.hpp"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "workload/model_spec.hpp"

namespace mfusim::workload {
namespace {

std::string problems(const ParallelPlan& p, const std::string& model, std::int64_t gpus, std::int64_t seq = 8192) {
  std::string s;
  for (const auto& x : check_plan(p, load_catalog_model(default_model_dir(), model), gpus, seq)) s += x.key + ": " + x.message + "\n";
  return s;
}

ParallelPlan plan(std::int64_t tp, std::int64_t pp, std::int64_t dp, std::int64_t gbs = 512, std::int64_t mbs = 1) {
  ParallelPlan p;
  p.tp = tp;
  p.pp = pp;
  p.dp = dp;
  p.global_batch = gbs;
  p.micro_batch = mbs;
  return p;
}

TEST(ParallelPlan, ValidPlansHaveNoProblems) {
  EXPECT_EQ(problems(plan(8, 16, 128, 2048), "llama3.1-405b", 16384), "") << "Llama 3.1 405B's published plan";
  EXPECT_EQ(problems(plan(8, 8, 16, 1536), "gpt3-175b", 1024, 2048), "");
}

TEST(ParallelPlan, InvalidPlansSayWhatWouldBeValid) {
  EXPECT_NE(problems(plan(8, 8, 8), "llama3.1-70b", 1024).find("= 512 GPUs, but the cluster has 1024 (with these tp, pp, cp: dp = 16)"),
            std::string::npos);
  EXPECT_NE(problems(plan(12, 1, 1, 12), "llama3.1-70b", 12).find("tp: 12 does not divide heads=64 (valid: 1, 2, 4, 8, 16, 32, 64)"),
            std::string::npos);
  EXPECT_NE(problems(plan(1, 100, 1, 100), "llama3.1-8b", 100).find("pp: pp x virtual_stages = 100 model chunks for 32 layers"), std::string::npos);
  EXPECT_NE(problems(plan(1, 1, 8, 100), "llama3.1-8b", 8).find("micro_batch: micro_batch x dp = 1 x 8 does not divide global_batch=100"),
            std::string::npos);
  ParallelPlan moe = plan(1, 1, 8, 64);
  moe.ep = 3;
  EXPECT_NE(problems(moe, "mixtral-8x7b", 8, 4096).find("ep: 3 does not divide experts=8 (valid: 1, 2, 4, 8)"), std::string::npos);
  ParallelPlan tp_ep = plan(2, 1, 4, 64);
  tp_ep.ep = 2;
  EXPECT_NE(problems(tp_ep, "mixtral-8x7b", 8, 4096).find("sequence_parallel: an MoE model with tp > 1 needs sequence parallelism"),
            std::string::npos);
  ParallelPlan tp_only = plan(2, 1, 4, 64);
  EXPECT_NE(problems(tp_only, "mixtral-8x7b", 8, 4096).find("sequence_parallel: an MoE model with tp > 1 needs sequence parallelism"),
            std::string::npos)
      << "Megatron-LM requires sequence parallelism for MoE with TP whether or not experts are parallel";
  tp_ep.sequence_parallel = true;
  EXPECT_EQ(problems(tp_ep, "mixtral-8x7b", 8, 4096), "") << "Megatron-Core's TP x EP with sequence parallelism";
  ParallelPlan inter = plan(1, 4, 2, 12);
  inter.schedule = PipelineSchedule::kInterleaved;
  inter.virtual_stages = 2;
  EXPECT_NE(problems(inter, "llama3.1-8b", 8).find("micro-batches (6) to be a multiple of pp=4"), std::string::npos);
}

TEST(ParallelPlan, EndStageLayerCountsSplitTheRestOverTheOtherPositions) {
  // Automatic: Llama 3.1 405B's 126 layers on 16 stages are 7 + 14 x 8 + 7 (remainder to the middle);
  // set explicitly (Megatron-Core's --decoder-first/last-pipeline-num-layers 7) the same; DeepSeek-V3's
  // 61 layers on 16 positions with one on the last: 15 x 4 + 1.
  std::vector<std::int64_t> automatic, explicit_ends, deepseek;
  for (std::int64_t pos = 0; pos < 16; ++pos) {
    automatic.push_back(layers_at_position(126, 16, pos));
    explicit_ends.push_back(layers_at_position(126, 16, pos, 7, 7));
    deepseek.push_back(layers_at_position(61, 16, pos, 0, 1));
  }
  const std::vector<std::int64_t> llama{7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 7};
  EXPECT_EQ(automatic, llama);
  EXPECT_EQ(explicit_ends, llama);
  EXPECT_EQ(deepseek, (std::vector<std::int64_t>{4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 1}));
  EXPECT_EQ(first_layer_at_position(61, 16, 15, 0, 1), 60) << "the last position starts after the others' 60 layers";
  ModelSpec m = load_catalog_model(default_model_dir(), "deepseek-v3");
  EXPECT_EQ(blocks_at_position(m, 16, 15, 0, 1), (std::pair<std::int64_t, std::int64_t>{60, 62})) << "its layer and the MTP block";

  ParallelPlan ends = plan(8, 16, 128, 2048);
  ends.first_stage_layers = 60;
  ends.last_stage_layers = 60;
  EXPECT_NE(problems(ends, "llama3.1-405b", 16384)
                .find("first_stage_layers: first_stage_layers 60 + last_stage_layers 60 leave 6 of 126 layers for the other 14 pipeline positions"),
            std::string::npos);
  ParallelPlan one = plan(8, 1, 2048, 2048);
  one.last_stage_layers = 4;
  EXPECT_NE(problems(one, "llama3.1-405b", 16384).find("last_stage_layers: needs at least two pipeline positions"), std::string::npos);
  ends.first_stage_layers = 7;
  ends.last_stage_layers = 7;
  EXPECT_EQ(problems(ends, "llama3.1-405b", 16384), "");
}

TEST(RankLayout, MegatronDefaultOrderPutsTpInnermost) {
  ParallelPlan p = plan(8, 4, 2);
  RankLayout l(p);
  EXPECT_EQ(l.group_of(0, Dim::kTp), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7})) << "TP group inside a node";
  EXPECT_EQ(l.group_of(0, Dim::kDp), (std::vector<std::int64_t>{0, 8})) << "DP stride = tp x cp";
  EXPECT_EQ(l.group_of(3, Dim::kPp), (std::vector<std::int64_t>{3, 19, 35, 51})) << "PP stride = tp x cp x dp";
  EXPECT_EQ(l.groups(Dim::kDp).size(), 32u) << "tp x pp = 32 DP groups";
  for (std::int64_t r = 0; r < p.gpus(); ++r) {
    EXPECT_EQ(l.rank(l.coord(r, Dim::kTp), l.coord(r, Dim::kCp), l.coord(r, Dim::kDp), l.coord(r, Dim::kPp)), r);
  }
}

TEST(RankLayout, CustomOrderAndExpertGroups) {
  // Megatron-Core's expert generator uses the plan's order too, with sizes expert_tp, ep, expert_dp
  // and cp dropped: with dp innermost, expert_dp = 2 x 4 / (2 x 2) = 2 comes first, then expert_tp,
  // then ep, so an EP group pairs the two TP ranks of one DP index (dense rank = dp + 4 tp).
  ParallelPlan p = plan(2, 1, 4);
  p.ep = 2;
  p.order = {Dim::kDp, Dim::kTp, Dim::kCp, Dim::kEp, Dim::kPp};
  RankLayout l(p);
  EXPECT_EQ(l.group_of(0, Dim::kDp), (std::vector<std::int64_t>{0, 1, 2, 3})) << "dp innermost";
  EXPECT_EQ(l.group_of(0, Dim::kEp), (std::vector<std::int64_t>{0, 4})) << "EP: stride expert_dp x expert_tp = 4";
  EXPECT_EQ(l.group_of(2, Dim::kEp), (std::vector<std::int64_t>{2, 6}));
  EXPECT_EQ(l.expert_tp_group_of(0), (std::vector<std::int64_t>{0, 2})) << "expert-TP: stride expert_dp = 2";
  EXPECT_EQ(l.expert_dp_group_of(0), (std::vector<std::int64_t>{0, 1}));
  EXPECT_TRUE(l.expert_pipeline_matches()) << "pp = 1";
}

TEST(RankLayout, ExpertGroupsFollowMegatronCoresExpertRankGenerator) {
  // Default order tp-cp-ep-dp-pp, expert_tp = tp, cp = 1: an EP group is ep consecutive DP indices (the
  // placement before MoE parallel folding), expert data parallel the DP indices ep apart.
  ParallelPlan a = plan(2, 2, 8);
  a.ep = 4;
  RankLayout la(a);
  EXPECT_EQ(la.group_of(0, Dim::kEp), (std::vector<std::int64_t>{0, 2, 4, 6})) << "EP stride tp = 2 over DP ranks 0..3";
  EXPECT_EQ(la.expert_dp_group_of(1), (std::vector<std::int64_t>{1, 9})) << "expert DP: DP ranks 0 and 4 of TP rank 1";
  EXPECT_EQ(la.expert_tp_group_of(5), la.group_of(5, Dim::kTp)) << "expert_tp = tp: the TP group";
  EXPECT_EQ(la.coord(6, Dim::kEp), 3);
  EXPECT_EQ(la.group_of(16, Dim::kEp), (std::vector<std::int64_t>{16, 18, 20, 22})) << "second pipeline stage";
  EXPECT_TRUE(la.expert_pipeline_matches());
  // cp = 2: the expert generator has no cp, so an EP group takes in the CP ranks first (dense rank =
  // tp + 2 (cp + 2 dp)): ranks 0, 2 are CP 0, 1 of DP 0; 4, 6 CP 0, 1 of DP 1.
  ParallelPlan c = plan(2, 1, 4);
  c.cp = 2;
  c.ep = 4;
  RankLayout lc(c);
  EXPECT_EQ(lc.group_of(0, Dim::kEp), (std::vector<std::int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(lc.coord(2, Dim::kCp), 1);
  EXPECT_EQ(lc.expert_dp_group_of(0), (std::vector<std::int64_t>{0, 8})) << "expert_dp = 2 x 2 x 4 / (4 x 2) = 2";
  // expert_tp = 1 < tp = 4: EP runs over the TP ranks first (inside one node), experts unsplit.
  ParallelPlan t = plan(4, 1, 4);
  t.ep = 8;
  t.expert_tp = 1;
  RankLayout lt(t);
  EXPECT_EQ(lt.group_of(0, Dim::kEp), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7})) << "ep x expert_tp = 8 consecutive ranks";
  EXPECT_EQ(lt.expert_tp_group_of(3), (std::vector<std::int64_t>{3}));
  EXPECT_EQ(lt.expert_dp_group_of(3), (std::vector<std::int64_t>{3, 11}));
}

TEST(ParallelPlan, ExpertPlacementRules) {
  // ep need only divide tp x cp x dp / expert_tp (Megatron-Core's expert_data_parallel_size).
  ParallelPlan t = plan(2, 1, 4, 64);
  t.sequence_parallel = true;
  t.ep = 8;
  EXPECT_NE(problems(t, "mixtral-8x7b", 8, 4096).find("ep: ep x expert_tp = 8 x 2 must divide tp x cp x dp = 8"), std::string::npos)
      << problems(t, "mixtral-8x7b", 8, 4096);
  t.expert_tp = 1;
  EXPECT_EQ(problems(t, "mixtral-8x7b", 8, 4096), "") << "ep 8 over tp 2 x dp 4 with unsplit experts";
  // Not pp last: expert_tp 2 puts the expert generator's pp at stride 2, the dense one's at stride 1, so
  // the pipeline groups differ (Megatron-Core raises); ep 2 alone keeps them but halves the expert
  // data-parallel size, which Megatron-Core also refuses unless pp is last.
  ParallelPlan o = plan(1, 2, 4, 64);
  o.ep = 2;
  o.expert_tp = 2;
  o.order = {Dim::kTp, Dim::kPp, Dim::kCp, Dim::kEp, Dim::kDp};
  const std::string expected = "order: with ep=2 and expert_tp=2 the expert placement's pipeline groups or data-parallel size differ";
  EXPECT_NE(problems(o, "mixtral-8x7b", 8, 4096).find(expected), std::string::npos) << problems(o, "mixtral-8x7b", 8, 4096);
  EXPECT_FALSE(RankLayout(o).expert_pipeline_matches());
  o.expert_tp = 1;
  EXPECT_TRUE(RankLayout(o).expert_pipeline_matches());
  EXPECT_NE(problems(o, "mixtral-8x7b", 8, 4096).find("order: with ep=2 and expert_tp=1"), std::string::npos) << "expert_dp 2 != dp 4";
  o.ep = 1;
  EXPECT_EQ(problems(o, "mixtral-8x7b", 8, 4096), "") << "no expert parallelism: the generators agree";
  o.order = default_order();
  o.ep = 2;
  o.expert_tp = 2;
  EXPECT_EQ(problems(o, "mixtral-8x7b", 8, 4096), "") << "pp last: any ep x expert_tp dividing tp x cp x dp";
}

}  // namespace
}  // namespace mfusim::workload
