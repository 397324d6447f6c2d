#include "collective/analytical_collectives.hpp"

#include <utility>

#include "core/error.hpp"

namespace mfusim::collective {

AnalyticalCollectives::AnalyticalCollectives(core::Engine& engine, const topology::Topology& topology,
                                             CostModel cost_model, SmContention sm)
    : CollectiveModel(engine, topology, std::move(cost_model), sm) {}

CollectiveId AnalyticalCollectives::start(const Communicator& comm, const CollectiveCall& call, Callback on_done) {
  if (&comm.topology() != &topology_) throw core::InputError("the communicator belongs to another topology");
  CollectivePlan plan = cost_model_.plan(comm, call);  // throws on bad input before any state changes
  const core::Duration time = plan.time();
  const std::uint32_t slot = begin(comm, call, std::move(plan), std::move(on_done), engine_.now() + time);
  const CollectiveId id = running_[slot].id;
  engine_.schedule_after(time, [this, slot] { finish(slot); });
  return id;
}

}  // namespace mfusim::collective
