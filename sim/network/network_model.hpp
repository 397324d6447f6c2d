#pragma once
// The interface every network model implements: start a transfer of N bytes from one GPU to another,
// get a callback at the simulated instant its last byte arrives. Models share the simulation's Engine
// (they never own a clock) and report unfinished transfers as PendingWork, so a run that ends with
// transfers in flight is reported as stalled.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/engine.hpp"
#include "core/pending_work.hpp"
#include "core/units.hpp"
#include "network/fabric.hpp"

namespace mfusim::network {

using TransferId = std::uint64_t;  // unique per model instance, assigned in start() order

class NetworkModel : public core::PendingWork {
 public:
  using Callback = std::function<void(TransferId, core::SimTime)>;
  // Starts now (engine.now()). A zero-byte transfer still pays the path latency. src == dst completes
  // after zero time (a local copy is not the network's business). `max_rate` (bytes/s, 0 = none) caps
  // the transfer's rate at its source whatever the links offer: a sender slower than the wire (NCCL's
  // per-channel speed), which then leaves the rest of each link to others.
  TransferId start(EndpointId src, EndpointId dst, core::Bytes size, Callback on_done, double max_rate = 0.0) {
    return start_transfer(src, dst, size, std::move(on_done), max_rate);
  }
  virtual std::string_view name() const = 0;

 protected:
  virtual TransferId start_transfer(EndpointId src, EndpointId dst, core::Bytes size, Callback on_done, double max_rate) = 0;
};

// Shared by the models: bad endpoints or a negative size are InputErrors naming the valid range; the
// one-line description of an unfinished transfer for stall reports.
void check_transfer(const Fabric& fabric, EndpointId src, EndpointId dst, core::Bytes size);
std::string describe_transfer(TransferId id, EndpointId src, EndpointId dst, double bytes_left);

}  // namespace mfusim::network
