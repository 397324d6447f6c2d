#include "collective/analytical_collectives.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "collective/flow_collectives.hpp"
#include "core/engine.hpp"
#include "core/error.hpp"
#include "network/flow_network.hpp"
#include "network/topology_fabric.hpp"
#include "topology/router.hpp"
#include "unit/collective/test_topologies.hpp"

namespace mfusim::collective {
namespace {

using core::Bytes;
using test_support::preset;

constexpr std::int64_t kGiB = std::int64_t{1} << 30;

CollectiveCall all_reduce(std::int64_t bytes, Selection s = {}) {
  CollectiveCall c;
  c.op = CollectiveOp::kAllReduce;
  c.bytes = Bytes(bytes);
  c.selection = std::move(s);
  return c;
}

// Analytical collectives on the 8 GPUs of one DGX H100 node.
class AnalyticalOneNode : public ::testing::Test {
 protected:
  AnalyticalOneNode() { engine.add_pending_source(model); }
  const topology::Topology t = preset("tiny-1node");
  const Communicator comm = Communicator::first_gpus(t, 8);
  core::Engine engine;
  AnalyticalCollectives model{engine, t};
};

TEST_F(AnalyticalOneNode, OneEventAtTheClosedFormTimeAndSmAccounting) {
  const auto call = all_reduce(kGiB, {{Algorithm::kRing}, {Protocol::kSimple}});
  const auto expected = model.cost_model().plan(comm, call);
  std::vector<CollectiveResult> done;
  model.start(comm, call, [&](const CollectiveResult& r) { done.push_back(r); });
  EXPECT_TRUE(done.empty()) << "the callback must come from an engine event";
  EXPECT_EQ(model.pending_count(), 1u);
  EXPECT_EQ(model.busy_ctas(0), 24);
  EXPECT_DOUBLE_EQ(model.compute_slowdown(0), 1.0 + 24.0 / 132.0);  // k = 1, 132 SMs
  EXPECT_EQ(model.busy_ctas(8 % 8), 24);
  const auto run = engine.run();
  EXPECT_EQ(run.status, core::RunStatus::kCompleted);
  EXPECT_EQ(run.events, 1u);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].duration(), expected.time());
  EXPECT_EQ(done[0].plan.algorithm, Algorithm::kRing);
  EXPECT_EQ(model.busy_ctas(0), 0);
  EXPECT_DOUBLE_EQ(model.compute_slowdown(0), 1.0);
}

TEST_F(AnalyticalOneNode, KernelsSlowDownOnlyWhileCollectivesHoldSms) {
  // A kernel of P seconds alone starting beside a collective that ends in C seconds progresses at
  // 1 / f (f = 1 + 24/132) until then and at full speed after: P f when P f <= C, else C + (P - C / f).
  const auto call = all_reduce(kGiB, {{Algorithm::kRing}, {Protocol::kSimple}});
  const double c = model.cost_model().plan(comm, call).time().seconds();
  model.start(comm, call, nullptr);
  const double f = 1.0 + 24.0 / 132.0;
  const auto kernel = [&](double p) { return model.kernel_time(0, core::Duration::from_seconds(p)).seconds(); };
  EXPECT_NEAR(kernel(0.5 * c / f), 0.5 * c, 1e-9) << "a short kernel runs wholly beside the collective";
  EXPECT_NEAR(kernel(3.0 * c), c + (3.0 * c - c / f), 1e-9) << "past the collective's end the kernel runs at full speed";
  CollectiveCall few = call;
  few.sms = 4;  // e.g. Transformer Engine's bulk overlap on 4 SMs
  model.start(comm, few, nullptr);
  EXPECT_EQ(model.busy_ctas(0), 28) << "a call's own SM count replaces the NCCL channels";
  engine.run();
  EXPECT_EQ(model.busy_ctas(0), 0);
  EXPECT_EQ(model.kernel_time(0, core::Duration::from_seconds(1.0)), core::Duration::from_seconds(1.0));
}

TEST_F(AnalyticalOneNode, UnfinishedCollectivesAreDescribedAndBadCallsLeaveNoState) {
  CollectiveCall bad = all_reduce(1024);
  bad.op = CollectiveOp::kBroadcast;
  bad.root = 9;
  EXPECT_THROW(model.start(comm, bad, nullptr), core::InputError);
  EXPECT_EQ(model.pending_count(), 0u);
  EXPECT_EQ(model.busy_ctas(0), 0);

  model.start(comm, all_reduce(kGiB), nullptr);
  core::RunLimits limits;
  limits.until = core::SimTime::zero() + core::Duration::from_us(10);
  EXPECT_EQ(engine.run(limits).status, core::RunStatus::kTimeLimit);
  std::vector<std::string> lines;
  model.describe_pending(lines, 10);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "all-reduce #0 on 8 GPUs (1 node x 8), 1GiB, nvls/Simple: started at 0ps");
}

TEST(FlowCollectives, AloneItTakesTheAnalyticalTime) {
  const auto t = preset("tiny-2nodes");
  topology::Router router(t);
  network::TopologyFabric fabric(t, router);
  const auto comm = Communicator::first_gpus(t, 16);
  for (const auto& sel : std::vector<Selection>{{}, {{Algorithm::kRing}, {}}, {{Algorithm::kTree}, {}}}) {
    for (const std::int64_t bytes : {std::int64_t{4096}, std::int64_t{1} << 20, kGiB}) {
      core::Engine engine;
      network::FlowNetwork net(engine, fabric);
      FlowCollectives model(engine, t, net, fabric);
      engine.add_pending_source(net);
      engine.add_pending_source(model);
      core::Duration took;
      const auto call = all_reduce(bytes, sel);
      model.start(comm, call, [&](const CollectiveResult& r) { took = r.duration(); });
      ASSERT_EQ(engine.run().status, core::RunStatus::kCompleted);
      const double expected = model.cost_model().plan(comm, call).time().seconds();
      EXPECT_NEAR(took.seconds(), expected, 0.01 * expected) << bytes << " B";
      EXPECT_EQ(model.busy_ctas(0), 0);
    }
  }
}

TEST(FlowCollectives, RefusesLoweringsBeyondTheTransferLimit) {
  const auto t = preset("dgx-h100-superpod", {"nodes=256"});
  topology::Router router(t);
  network::TopologyFabric fabric(t, router);
  core::Engine engine;
  network::FlowNetwork net(engine, fabric);
  FlowCollectives model(engine, t, net, fabric);
  const auto comm = Communicator::first_gpus(t, 2048);
  CollectiveCall a2a;
  a2a.op = CollectiveOp::kAllToAll;
  a2a.bytes = Bytes(kGiB);
  try {
    model.start(comm, a2a, nullptr);
    FAIL() << "expected an InputError";
  } catch (const core::InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "flow fidelity: all-to-all on 2048 GPUs (256 nodes x 8) needs 4192256 transfers (limit 2097152); use "
              "the analytical fidelity");
  }
  EXPECT_EQ(model.pending_count(), 0u);
}

}  // namespace
}  // namespace mfusim::collective
