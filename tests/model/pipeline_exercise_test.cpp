// Closed-form checks of the pipeline exercise: with zero p2p time, both GPipe and 1F1B take
// (m + p - 1)(t_f + t_b) and leave each stage idle for a fraction (p - 1)/(m + p - 1) of the step
// (Narayanan et al., "Efficient Large-Scale Language Model Training on GPU Clusters Using
// Megatron-LM", SC'21, section 2.2.1).
#include <gtest/gtest.h>

#include "scenario/scenario.hpp"
#include "scenario/simulation.hpp"

namespace mfusim::scenario {
namespace {

struct Case {
  int p;
  int m;
  PipelineSchedule schedule;
};

class PipelineClosedForm : public testing::TestWithParam<Case> {};

TEST_P(PipelineClosedForm, StepTimeAndBubbleMatch) {
  const Case c = GetParam();
  Scenario sc;
  sc.name = "t";
  sc.pipeline = PipelineExercise{c.p, c.m, c.schedule, core::Duration::from_us(100), core::Duration::from_us(200),
                                 core::Duration::zero()};
  sc.graph = lower_pipeline(*sc.pipeline);
  const SimulationResult r = simulate(sc);
  ASSERT_EQ(r.run.status, core::RunStatus::kCompleted);
  const auto expected = core::Duration::from_us(300) * (c.m + c.p - 1);
  EXPECT_EQ(r.step_time, expected) << "p=" << c.p << " m=" << c.m << ": step must be (m+p-1)(tf+tb)";
  const double bubble = static_cast<double>(c.p - 1) / (c.m + c.p - 1);
  EXPECT_NEAR(r.bubble_fraction, bubble, 1e-12) << "bubble fraction must be (p-1)/(m+p-1)";
  EXPECT_NEAR(r.ideal_bubble_fraction, bubble, 1e-15);
}

INSTANTIATE_TEST_SUITE_P(Schedules, PipelineClosedForm,
                         testing::Values(Case{1, 1, PipelineSchedule::kOneFOneB}, Case{4, 8, PipelineSchedule::kOneFOneB},
                                         Case{4, 8, PipelineSchedule::kGpipe}, Case{8, 3, PipelineSchedule::kOneFOneB},
                                         Case{8, 64, PipelineSchedule::kOneFOneB}, Case{16, 16, PipelineSchedule::kGpipe}));

TEST(PipelineExercise, P2PTimeOnlyAddsToTheStep) {
  // Property: a slower link never makes the step faster.
  core::Duration previous = core::Duration::zero();
  for (int us : {0, 10, 50, 200}) {
    Scenario sc;
    sc.pipeline = PipelineExercise{4, 8, PipelineSchedule::kOneFOneB, core::Duration::from_us(100),
                                   core::Duration::from_us(200), core::Duration::from_us(us)};
    sc.graph = lower_pipeline(*sc.pipeline);
    const auto step = simulate(sc).step_time;
    EXPECT_GE(step, previous) << "p2p=" << us << "us made the step faster";
    previous = step;
  }
}

}  // namespace
}  // namespace mfusim::scenario
