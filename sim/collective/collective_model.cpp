#include "collective/collective_model.hpp"

#include <algorithm>
#include <utility>

#include "core/error.hpp"
#include "core/unit_parser.hpp"

namespace mfusim::collective {

CollectiveModel::CollectiveModel(core::Engine& engine, const topology::Topology& topology, CostModel cost_model,
                                 SmContention sm)
    : engine_(engine),
      topology_(topology),
      cost_model_(std::move(cost_model)),
      sm_(sm),
      busy_(topology.gpu_count(), 0),
      holds_(topology.gpu_count()) {
  if (!(sm_.k >= 0)) throw core::InputError("SM contention factor k must not be negative");
}

double CollectiveModel::compute_slowdown(topology::GpuIndex gpu) const {
  return sm_.slowdown(busy_[gpu], topology_.gpu_spec != nullptr ? topology_.gpu_spec->sm_count : 1);
}

core::Duration CollectiveModel::kernel_time(topology::GpuIndex gpu, core::Duration planned) const {
  const auto& holds = holds_[gpu];  // in end order
  if (holds.empty() || planned <= core::Duration::zero()) return planned;
  const int sms = topology_.gpu_spec != nullptr ? topology_.gpu_spec->sm_count : 1;
  // Piecewise: within each interval between two collectives' ends the kernel runs at 1 / slowdown.
  const core::SimTime now = engine_.now();
  int busy = busy_[gpu];
  double work = planned.seconds();  // seconds of the kernel alone still to do
  double elapsed = 0.0;
  core::SimTime t = now;
  for (const Hold& h : holds) {
    if (h.until <= t) {  // flow fidelity: past the time it would take alone; counted as done
      busy -= h.ctas;
      continue;
    }
    const double f = sm_.slowdown(busy, sms);
    if (h.until == core::SimTime::max()) return core::Duration::from_seconds(elapsed + work * f);
    const double span = (h.until - t).seconds();
    if (work * f <= span) return core::Duration::from_seconds(elapsed + work * f);
    elapsed += span;
    work -= span / f;
    t = h.until;
    busy -= h.ctas;
  }
  return core::Duration::from_seconds(elapsed + work * sm_.slowdown(busy, sms));
}

std::uint32_t CollectiveModel::begin(const Communicator& comm, const CollectiveCall& call, CollectivePlan plan,
                                     Callback on_done, core::SimTime until) {
  std::uint32_t slot = 0;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(running_.size());
    running_.emplace_back();
  }
  Running& r = running_[slot];
  r = Running{};
  r.id = next_id_++;
  r.comm = &comm;
  r.call = call;
  r.plan = std::move(plan);
  r.start = engine_.now();
  r.callback = std::move(on_done);
  r.until = until;
  r.ctas = call.sms >= 0 ? call.sms : r.plan.channels;
  r.live = true;
  ++live_;
  take_sms(r, +1);
  return slot;
}

void CollectiveModel::finish(std::uint32_t slot) {
  Running& r = running_[slot];
  MFUSIM_CHECK(r.live, "collective finished twice");
  take_sms(r, -1);
  CollectiveResult result{r.id, r.plan, r.start, engine_.now()};
  Callback callback = std::move(r.callback);
  r.callback = nullptr;
  r.live = false;
  r.call = CollectiveCall{};
  free_slots_.push_back(slot);
  --live_;
  if (callback) callback(result);
}

void CollectiveModel::take_sms(const Running& r, int sign) {
  if (r.ctas == 0) return;
  if (r.plan.op == CollectiveOp::kSendRecv) {
    hold(r.comm->gpu(r.call.root), r, sign);
    if (r.call.peer != r.call.root) hold(r.comm->gpu(r.call.peer), r, sign);
    return;
  }
  for (const topology::GpuIndex g : r.comm->gpus()) hold(g, r, sign);
}

void CollectiveModel::hold(topology::GpuIndex gpu, const Running& r, int sign) {
  busy_[gpu] += r.ctas * sign;
  auto& holds = holds_[gpu];  // kept in end order (then id) for kernel_time
  if (sign > 0) {
    const Hold h{r.id, r.until, r.ctas};
    const auto at = std::upper_bound(holds.begin(), holds.end(), h, [](const Hold& a, const Hold& b) {
      return a.until < b.until || (a.until == b.until && a.id < b.id);
    });
    holds.insert(at, h);
    return;
  }
  const auto it = std::find_if(holds.begin(), holds.end(), [&](const Hold& h) { return h.id == r.id; });
  MFUSIM_CHECK(it != holds.end(), "collective released SMs it did not hold");
  holds.erase(it);
}

void CollectiveModel::describe_pending(std::vector<std::string>& out, std::size_t max_items) const {
  std::vector<const Running*> live;
  for (const auto& r : running_) {
    if (r.live) live.push_back(&r);
  }
  std::sort(live.begin(), live.end(), [](const Running* a, const Running* b) { return a->id < b->id; });
  for (std::size_t i = 0; i < live.size() && i < max_items; ++i) {
    const Running& r = *live[i];
    std::string s = std::string(to_string(r.plan.op)) + " #" + std::to_string(r.id) + " on " + r.comm->describe() +
                    ", " + core::format_bytes(r.plan.bytes) + ", " + std::string(to_string(r.plan.algorithm)) + "/" +
                    std::string(to_string(r.plan.protocol));
    if (r.transfers_total > 0) {
      s +=
          ": waits for " + std::to_string(r.transfers_left) + " of " + std::to_string(r.transfers_total) + " transfers";
    } else {
      s += ": started at " + core::format_duration(r.start.since_start());
    }
    out.push_back(std::move(s));
  }
}

}  // namespace mfusim::collective
