#include "workload/parallel_plan.hpp"

#include <gtest/gtest.h>

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
  ParallelPlan p = plan(2, 1, 4);
  p.ep = 2;
  p.order = {Dim::kDp, Dim::kTp, Dim::kCp, Dim::kEp, Dim::kPp};
  RankLayout l(p);
  EXPECT_EQ(l.group_of(0, Dim::kDp), (std::vector<std::int64_t>{0, 1, 2, 3})) << "dp innermost";
  EXPECT_EQ(l.group_of(0, Dim::kEp), (std::vector<std::int64_t>{0, 1})) << "EP: blocks of ep DP ranks";
  EXPECT_EQ(l.group_of(2, Dim::kEp), (std::vector<std::int64_t>{2, 3}));
}

}  // namespace
}  // namespace mfusim::workload
