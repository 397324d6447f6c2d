#pragma once
// The training step's communication through the NCCL-faithful collective layer (sim/collective):
// every workload::CommRequest becomes a collective call on a communicator of the request's GPUs, with
// NCCL's algorithm and protocol selection, at the scenario's fidelity:
//   analytical  one timed event per collective (the NCCL cost model on the topology, no contention);
//   flow        each collective lowered to transfers on the max-min flow network; in symmetric runs the
//               same collective is started for every equivalent group (CommRequest::groups), so all
//               their traffic shares the links, and the step continues when the representative
//               group's collective completes.
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collective/collective_model.hpp"
#include "collective/communicator.hpp"
#include "core/engine.hpp"
#include "network/flow_network.hpp"
#include "network/topology_fabric.hpp"
#include "scenario/training.hpp"
#include "topology/router.hpp"
#include "workload/communication.hpp"

namespace mfusim::scenario {

class CollectiveCommunication final : public workload::CommunicationModel {
 public:
  CollectiveCommunication(core::Engine& engine, const topology::Topology& topology, Fidelity fidelity);
  ~CollectiveCommunication() override;
  void start(const workload::CommRequest& request, std::function<void()> done) override;
  core::Duration kernel_time(std::int64_t gpu, core::Duration planned) const override;

  std::size_t collectives_started() const { return started_; }

  // NCCL's algorithm and protocol for this request on its representative group, as the cost model
  // selects them ("ring/LL128, 16 channels"); "" for a request that moves nothing. For traces only.
  std::string describe_plan(const workload::CommRequest& request);

 private:
  const collective::Communicator& communicator(const std::vector<std::int64_t>& gpus);

  core::Engine& engine_;
  const topology::Topology& topology_;
  Fidelity fidelity_;
  topology::Router router_;
  std::unique_ptr<network::TopologyFabric> fabric_;
  std::unique_ptr<network::FlowNetwork> network_;
  std::unique_ptr<collective::CollectiveModel> model_;
  std::map<std::vector<std::int64_t>, std::unique_ptr<collective::Communicator>> communicators_;
  std::size_t started_ = 0;
};

}  // namespace mfusim::scenario
