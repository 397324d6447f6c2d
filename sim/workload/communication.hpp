#pragma once
// What the step lowering asks of the communication model: run a collective (or a point-to-point
// transfer) over a group of GPUs and say when it is done. The collective layer implements it
// (NCCL-style algorithms on the network model); tests use closed-form stand-ins.
//
// Symmetry: the step simulator runs one representative rank per pipeline stage. When that rank starts
// a collective, every group that runs the same collective at the same moment (the other TP groups of
// the stage, the other data-parallel replicas, ...) is listed in `groups` (the representative's first),
// so a contention-aware model can put all their traffic on the network together; completion is the
// representative group's.
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "core/units.hpp"
#include "workload/parallel_plan.hpp"

namespace mfusim::workload {

enum class CollectiveKind : std::uint8_t { kAllReduce, kAllGather, kReduceScatter, kAllToAll, kSendRecv, kBroadcast };
std::string_view to_string(CollectiveKind k);

using GroupSet = std::vector<std::vector<std::int64_t>>;  // global ranks (= GPU indexes)

struct CommRequest {
  CollectiveKind kind = CollectiveKind::kAllReduce;
  Dim dim = Dim::kTp;  // the parallel dimension it serves (labels the breakdown)
  // Buffer size as nccl-tests counts it: all-reduce and broadcast the buffer; all-gather the gathered
  // output; reduce-scatter the input; all-to-all the bytes each rank sends in total; send/recv the message.
  core::Bytes bytes;
  std::shared_ptr<const GroupSet> groups;  // equivalent groups, representative first
  // SMs the communication holds on each GPU while it runs (compute contention); -1: one per NCCL
  // channel the tuner picks. Transformer Engine's userbuffer overlap sets its own (step_simulator.cpp).
  int sms = -1;
};

class CommunicationModel {
 public:
  virtual ~CommunicationModel() = default;
  // Starts now on the shared engine; calls `done` exactly once when the representative group finishes.
  virtual void start(const CommRequest& request, std::function<void()> done) = 0;
  // How long a compute kernel that starts now on `gpu` and takes `planned` alone runs while the
  // communication running there slows it (collective CTAs occupy SMs and compete for HBM bandwidth);
  // `planned` = no contention.
  virtual core::Duration kernel_time(std::int64_t gpu, core::Duration planned) const {
    (void)gpu;
    return planned;
  }
};

}  // namespace mfusim::workload
