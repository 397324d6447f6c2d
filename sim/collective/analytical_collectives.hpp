#pragma once
// Analytical fidelity: each collective is one timed event. Its duration is the CostModel's closed form
//     t = lat(a, p) + S / (algbw(a, p, S) x eta(S / n))
// (cost_model.hpp: NCCL 2.30.7's tuner on the communicator's topology-derived graph, times the
// calibrated efficiency curve). Collectives never slow each other down: use FlowCollectives where
// several communicators share links. Cost: O(n) per collective for the SM accounting, one event.
#include "collective/collective_model.hpp"

namespace mfusim::collective {

class AnalyticalCollectives final : public CollectiveModel {
 public:
  // engine and topology must outlive this object; register it with engine.add_pending_source().
  AnalyticalCollectives(core::Engine& engine, const topology::Topology& topology, CostModel cost_model = CostModel(),
                        SmContention sm = {});

  CollectiveId start(const Communicator& comm, const CollectiveCall& call, Callback on_done) override;
  Fidelity fidelity() const override { return Fidelity::kAnalytical; }
};

}  // namespace mfusim::collective
