#include "scenario/collective_communication.hpp"

#include "collective/analytical_collectives.hpp"
#include "collective/flow_collectives.hpp"
#include "core/error.hpp"

namespace mfusim::scenario {
namespace {

collective::CollectiveOp op_of(workload::CollectiveKind k) {
  switch (k) {
    case workload::CollectiveKind::kAllReduce: return collective::CollectiveOp::kAllReduce;
    case workload::CollectiveKind::kAllGather: return collective::CollectiveOp::kAllGather;
    case workload::CollectiveKind::kReduceScatter: return collective::CollectiveOp::kReduceScatter;
    case workload::CollectiveKind::kAllToAll: return collective::CollectiveOp::kAllToAll;
    case workload::CollectiveKind::kSendRecv: return collective::CollectiveOp::kSendRecv;
    case workload::CollectiveKind::kBroadcast: return collective::CollectiveOp::kBroadcast;
  }
  return collective::CollectiveOp::kAllReduce;
}

}  // namespace

CollectiveCommunication::CollectiveCommunication(core::Engine& engine, const topology::Topology& topology, Fidelity fidelity)
    : engine_(engine), topology_(topology), fidelity_(fidelity), router_(topology) {
  if (fidelity == Fidelity::kFlow) {
    fabric_ = std::make_unique<network::TopologyFabric>(topology, router_);
    network_ = std::make_unique<network::FlowNetwork>(engine, *fabric_);
    engine.add_pending_source(*network_);
    model_ = std::make_unique<collective::FlowCollectives>(engine, topology, *network_, *fabric_);
  } else {
    collective::CostModel cost;
    cost.cache_plans_per_communicator();  // communicators_ keeps every communicator for the whole step
    model_ = std::make_unique<collective::AnalyticalCollectives>(engine, topology, std::move(cost));
  }
  engine.add_pending_source(*model_);
}

CollectiveCommunication::~CollectiveCommunication() = default;

const collective::Communicator& CollectiveCommunication::communicator(const std::vector<std::int64_t>& gpus) {
  auto it = communicators_.find(gpus);
  if (it != communicators_.end()) return *it->second;
  std::vector<topology::GpuIndex> ids;
  ids.reserve(gpus.size());
  for (auto g : gpus) {
    MFUSIM_CHECK(g >= 0 && static_cast<std::size_t>(g) < topology_.gpu_count(), "communicator rank outside the topology");
    ids.push_back(static_cast<topology::GpuIndex>(g));
  }
  auto comm = std::make_unique<collective::Communicator>(topology_, std::move(ids));
  return *communicators_.emplace(gpus, std::move(comm)).first->second;
}

core::Duration CollectiveCommunication::kernel_time(std::int64_t gpu, core::Duration planned) const {
  return model_->kernel_time(static_cast<topology::GpuIndex>(gpu), planned);
}

std::string CollectiveCommunication::describe_plan(const workload::CommRequest& request) {
  const auto& group = request.groups->front();
  if (group.size() < 2 || request.bytes.count() == 0) return "";
  collective::CollectiveCall call;
  call.op = op_of(request.kind);
  call.bytes = request.bytes;
  if (request.kind == workload::CollectiveKind::kSendRecv) {
    call.root = 0;
    call.peer = 1;
  }
  const auto plan = model_->cost_model().plan(communicator(group), call);
  return std::string(collective::to_string(plan.algorithm)) + "/" + std::string(collective::to_string(plan.protocol)) + ", " +
         std::to_string(plan.channels) + " channels";
}

void CollectiveCommunication::start(const workload::CommRequest& request, std::function<void()> done) {
  const auto& groups = *request.groups;
  if (groups.front().size() < 2 || request.bytes.count() == 0) {
    engine_.schedule_after(core::Duration::zero(), std::move(done));
    return;
  }
  collective::CollectiveCall call;
  call.op = op_of(request.kind);
  call.bytes = request.bytes;
  call.sms = request.sms;
  if (request.kind == workload::CollectiveKind::kSendRecv) {
    call.root = 0;
    call.peer = 1;
  }
  // The representative group decides when the step moves on; in flow fidelity the equivalent groups
  // run too, loading the links they share with it.
  const std::size_t groups_to_start = fidelity_ == Fidelity::kFlow ? groups.size() : 1;
  for (std::size_t i = 0; i < groups_to_start; ++i) {
    const auto& comm = communicator(groups[i]);
    ++started_;
    if (i == 0) {
      model_->start(comm, call, [done = std::move(done)](const collective::CollectiveResult&) { done(); });
    } else {
      model_->start(comm, call, [](const collective::CollectiveResult&) {});
    }
  }
}

}  // namespace mfusim::scenario
