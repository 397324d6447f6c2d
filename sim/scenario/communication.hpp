#pragma once
// Communication for the training step on the scenario's topology.
//
// Analytical (this file, until the NCCL-faithful collective layer is wired in): ring algorithms with
// alpha-beta costs on the topology's routes. For a group of n ranks in rank order, every ring step
// moves S/n bytes between neighbours; the step takes the slowest neighbour route's latency plus S/n over
// its bottleneck bandwidth. All-reduce takes 2(n-1) steps, all-gather and reduce-scatter n-1, all-to-all
// n-1 (each rank exchanges S/n with every peer, serialised on its injection link), send/recv one
// message on its route. No contention between groups.
#include <memory>

#include "core/engine.hpp"
#include "topology/router.hpp"
#include "topology/topology.hpp"
#include "workload/communication.hpp"

namespace mfusim::scenario {

class RingCommunication final : public workload::CommunicationModel {
 public:
  RingCommunication(core::Engine& engine, const topology::Topology& topology);
  void start(const workload::CommRequest& request, std::function<void()> done) override;
  core::Duration estimate(const workload::CommRequest& request);

 private:
  struct RouteCost {
    double bandwidth;
    core::Duration latency;
  };
  RouteCost route_cost(std::int64_t a, std::int64_t b);

  core::Engine& engine_;
  const topology::Topology& topology_;
  topology::Router router_;
};

}  // namespace mfusim::scenario
