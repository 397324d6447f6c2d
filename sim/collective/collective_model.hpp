#pragma once
// The interface both collective fidelities implement: start a collective on a communicator now, get a
// callback on the shared Engine at the simulated instant it completes on every rank.
//
//   AnalyticalCollectives  one engine event per collective, at start + CostModel time (closed form, no
//                          contention between collectives; analytical_collectives.hpp);
//   FlowCollectives        the collective lowered to concurrent transfers on a network::NetworkModel, so
//                          collectives of different communicators contend where they share links
//                          (flow_collectives.hpp).
// Both keep per-GPU SM accounting (one SM per CTA, sm_contention.hpp) and report unfinished collectives
// as core::PendingWork, so a stalled run names them.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "collective/communicator.hpp"
#include "collective/cost_model.hpp"
#include "collective/sm_contention.hpp"
#include "core/engine.hpp"
#include "core/pending_work.hpp"
#include "topology/topology.hpp"

namespace mfusim::collective {

using CollectiveId = std::uint64_t;  // unique per model instance, in start() order

struct CollectiveResult {
  CollectiveId id = 0;
  CollectivePlan plan;
  core::SimTime start;
  core::SimTime end;
  core::Duration duration() const { return end - start; }
};

class CollectiveModel : public core::PendingWork {
 public:
  using Callback = std::function<void(const CollectiveResult&)>;

  CollectiveModel(const CollectiveModel&) = delete;
  CollectiveModel& operator=(const CollectiveModel&) = delete;
  ~CollectiveModel() override = default;

  // Starts the collective at engine.now(). `comm` must outlive the collective. Bad calls (ranks
  // outside the communicator, a selection that leaves no algorithm) throw core::InputError before
  // anything is scheduled. The callback always runs from an engine event, never inside start().
  virtual CollectiveId start(const Communicator& comm, const CollectiveCall& call, Callback on_done) = 0;
  virtual Fidelity fidelity() const = 0;

  const CostModel& cost_model() const { return cost_model_; }
  const SmContention& sm_contention() const { return sm_; }

  // CTAs (SMs) that running collectives hold on a GPU, and the resulting compute slowdown factor.
  int busy_ctas(topology::GpuIndex gpu) const { return busy_[gpu]; }
  double compute_slowdown(topology::GpuIndex gpu) const;
  // How long a kernel that starts now on `gpu` and takes `planned` alone runs beside the collectives
  // holding SMs there: it progresses at 1 / compute_slowdown while they run, the factor falling as each
  // ends (collectives that start later are not foreseen). Each collective's end is the cost model's
  // time for it (exact at analytical fidelity; at flow fidelity the time it would take alone).
  core::Duration kernel_time(topology::GpuIndex gpu, core::Duration planned) const;

  std::size_t pending_count() const override { return live_; }
  void describe_pending(std::vector<std::string>& out, std::size_t max_items) const override;

 protected:
  // engine and topology must outlive the model.
  CollectiveModel(core::Engine& engine, const topology::Topology& topology, CostModel cost_model, SmContention sm);

  struct Running {
    CollectiveId id = 0;
    const Communicator* comm = nullptr;
    CollectiveCall call;
    CollectivePlan plan;
    core::SimTime start;
    Callback callback;
    std::size_t transfers_total = 0;
    std::size_t transfers_left = 0;
    core::SimTime until = core::SimTime::max();
    int ctas = 0;  // SMs held per GPU (CollectiveCall::sms, else the plan's channels)
    bool live = false;
  };

  // Records a planned call (CostModel::plan) and takes its SMs until `until` (when it will end, if the
  // model knows; SimTime::max() otherwise); returns the record's slot.
  std::uint32_t begin(const Communicator& comm, const CollectiveCall& call, CollectivePlan plan, Callback on_done,
                      core::SimTime until = core::SimTime::max());
  // Releases the SMs and the slot, then runs the callback (call from an engine event).
  void finish(std::uint32_t slot);

  core::Engine& engine_;
  const topology::Topology& topology_;
  CostModel cost_model_;
  SmContention sm_;
  std::vector<Running> running_;

 private:
  void take_sms(const Running& r, int sign);

  // SMs a running collective holds on one GPU, and until when.
  struct Hold {
    CollectiveId id;
    core::SimTime until;
    int ctas;
  };
  void hold(topology::GpuIndex gpu, const Running& r, int sign);

  std::vector<std::uint32_t> free_slots_;
  std::vector<int> busy_;
  std::vector<std::vector<Hold>> holds_;  // per GPU, in end order
  CollectiveId next_id_ = 0;
  std::size_t live_ = 0;
};

}  // namespace mfusim::collective
