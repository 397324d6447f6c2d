// Benchmarks of MaxMinSolver::solve() on two-tier rail-optimised leaf/spine instances, the setup of
// reference/simulation-speed.md section 3.3 (target: 131k flows on a 786k-link fabric in <= 10 ms, one
// thread, section 6.5 item 2).
//
// Fabric: 8 GPUs per node, GPU g = node * 8 + rail; one rail leaf per 32 nodes and rail, so a leaf serves
// 32 GPUs; `spines` spines (64, or 64 / spine_div to create ECMP collisions). Constraints, all 50 GB/s:
// per GPU a NIC up-link and a NIC down-link; per leaf and spine an up-link and a down-link.
// Flows: a DP ring on each rail, `flows_per_gpu` flows (channels) per GPU, each on a random ECMP spine (fixed
// seed). `stride` is the distance in nodes to the ring neighbour:
//   stride 1  (section 3.3's "DP-ring neighbour"): 31 of 32 flows stay inside their leaf, path NIC up ->
//             NIC down (2 elements); one in 32 crosses a spine (4 elements);
//   stride 32 (the next leaf group): every path is NIC up -> leaf up -> spine down -> NIC down (4 elements),
//             with random spines, hence random memory access and more rate levels.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "network/max_min_solver.hpp"

namespace mfusim::network {
namespace {

constexpr std::uint32_t kGpusPerNode = 8;
constexpr std::uint32_t kNodesPerLeaf = 32;
constexpr std::uint32_t kMaxSpines = 64;
constexpr double kLinkBandwidth = 50e9;  // bytes/s: 400 Gb/s NICs and fabric links, as in section 3.3

struct Fabric {
  MaxMinSolver solver;
  std::uint32_t spines = 0;
  std::uint32_t leaves = 0;
  std::uint32_t gpus = 0;
  std::vector<MaxMinSolver::VariableId> flows;

  MaxMinSolver::ConstraintId nic_up(std::uint32_t gpu) const { return gpu; }
  MaxMinSolver::ConstraintId nic_down(std::uint32_t gpu) const { return gpus + gpu; }
  MaxMinSolver::ConstraintId leaf_up(std::uint32_t leaf, std::uint32_t spine) const {
    return 2 * gpus + leaf * spines + spine;
  }
  MaxMinSolver::ConstraintId spine_down(std::uint32_t leaf, std::uint32_t spine) const {
    return 2 * gpus + leaves * spines + leaf * spines + spine;
  }
  std::uint32_t leaf_of(std::uint32_t gpu) const {
    const std::uint32_t node = gpu / kGpusPerNode;
    return (node / kNodesPerLeaf) * kGpusPerNode + gpu % kGpusPerNode;
  }

  // Adds one flow from `src` to its ring neighbour `stride` nodes on, on a random spine.
  void add_flow(std::uint32_t src, std::uint32_t stride, std::mt19937& rng) {
    const std::uint32_t nodes = gpus / kGpusPerNode;
    const std::uint32_t node = src / kGpusPerNode;
    const std::uint32_t dst = ((node + stride) % nodes) * kGpusPerNode + src % kGpusPerNode;
    const MaxMinSolver::VariableId v = solver.add_variable();
    solver.add_element(v, nic_up(src));
    if (leaf_of(src) != leaf_of(dst)) {
      const std::uint32_t spine = std::uniform_int_distribution<std::uint32_t>(0, spines - 1)(rng);
      solver.add_element(v, leaf_up(leaf_of(src), spine));
      solver.add_element(v, spine_down(leaf_of(dst), spine));
    }
    solver.add_element(v, nic_down(dst));
    flows.push_back(v);
  }
};

Fabric make_fabric(std::uint32_t gpus, std::uint32_t flows_per_gpu, std::uint32_t spine_div, std::uint32_t stride,
                   std::mt19937& rng) {
  Fabric fabric;
  fabric.gpus = gpus;
  fabric.spines = kMaxSpines / spine_div;
  fabric.leaves = gpus / kNodesPerLeaf;
  const std::size_t constraints = 2 * std::size_t{gpus} + 2 * std::size_t{fabric.leaves} * fabric.spines;
  const std::size_t flows = std::size_t{gpus} * flows_per_gpu;
  fabric.solver.reserve(constraints, flows, 4 * flows);
  for (std::size_t c = 0; c < constraints; ++c) {
    fabric.solver.add_constraint(kLinkBandwidth);
  }
  for (std::uint32_t k = 0; k < flows_per_gpu; ++k) {
    for (std::uint32_t g = 0; g < gpus; ++g) {
      fabric.add_flow(g, stride, rng);
    }
  }
  return fabric;
}

// Args: GPUs, flows per GPU, spine divisor, ring stride in nodes.
void BM_SolveRailLeafSpine(benchmark::State& state) {
  std::mt19937 rng(42);
  const auto arg = [&state](std::size_t i) { return static_cast<std::uint32_t>(state.range(i)); };
  Fabric fabric = make_fabric(arg(0), arg(1), arg(2), arg(3), rng);
  fabric.solver.solve();  // warm-up: scratch arrays reach their size
  for (auto _ : state) {
    fabric.solver.solve();
  }
  state.counters["rounds"] = static_cast<double>(fabric.solver.rounds());
  state.counters["variables"] = static_cast<double>(fabric.solver.num_variables());
  state.counters["constraints"] = static_cast<double>(fabric.solver.num_constraints());
  state.counters["elements"] = static_cast<double>(fabric.solver.num_elements());
}
BENCHMARK(BM_SolveRailLeafSpine)
    ->ArgNames({"gpus", "flows_per_gpu", "spine_div", "stride"})
    // Section 3.3's instances (ring neighbour in the next node).
    ->Args({8192, 4, 1, 1})
    ->Args({32768, 4, 1, 1})
    ->Args({131072, 1, 1, 1})
    ->Args({32768, 4, 4, 1})
    ->Args({131072, 1, 4, 1})
    // Every flow crosses the spine layer: path length 4.
    ->Args({8192, 4, 1, 32})
    ->Args({32768, 1, 1, 32})
    ->Args({32768, 4, 1, 32})
    ->Args({32768, 4, 4, 32})
    ->Args({131072, 1, 1, 32})
    ->Args({131072, 1, 4, 32})
    ->Args({131072, 4, 1, 32})
    ->Unit(benchmark::kMillisecond);

// One flow ends and one starts (recycling the id): remove_variable + add_variable + 4 add_element, the
// per-event structural cost of the flow model, on the 32k-GPU x 4 instance.
void BM_RemoveAddFlow(benchmark::State& state) {
  std::mt19937 rng(42);
  Fabric fabric = make_fabric(32768, 4, 1, 32, rng);
  std::uniform_int_distribution<std::size_t> any_flow(0, fabric.flows.size() - 1);
  std::uniform_int_distribution<std::uint32_t> any_gpu(0, fabric.gpus - 1);
  for (auto _ : state) {
    const std::size_t i = any_flow(rng);
    fabric.solver.remove_variable(fabric.flows[i]);
    fabric.flows[i] = fabric.flows.back();
    fabric.flows.pop_back();
    fabric.add_flow(any_gpu(rng), 32, rng);
  }
  state.counters["variables"] = static_cast<double>(fabric.solver.num_variables());
}
BENCHMARK(BM_RemoveAddFlow)->Unit(benchmark::kNanosecond);

}  // namespace
}  // namespace mfusim::network
