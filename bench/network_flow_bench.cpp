// FlowNetwork end to end on a DGX H100 SuperPOD (topologies/dgx-h100-superpod.yaml, rail-optimized
// NDR400, PXN): `transfers` transfers of 64 MiB all started at t = 0 and run to completion (issue #3's
// benchmark: 16,384 GPUs, 100,000 transfers, target < 5 s and < 2 GiB on the 2-core dev machine).
//
// Patterns (seeded, so every run sees the same transfers):
//   random: each transfer from a uniformly random GPU to a uniformly random GPU of another node (with PXN
//           it first hops over NVLink to the destination's rail: random all-to-all-like traffic over the
//           NVLink, NIC and three switch tiers);
//   ring:   transfer i from GPU g = i mod G to the GPU of the same rail on the next node (the neighbour
//           exchange of a ring all-reduce phase over the DP dimension; 100,000 = 6.1 transfers per GPU,
//           as several NCCL channels would carry).
// Timed: building the Router and TopologyFabric (routes are computed on first use, inside start()),
// starting the transfers, and Engine::run() until the last completion. Not timed: loading the topology.
// Counters: solves, wake-ups, water levels (rounds) and rate changes over the run; simulated makespan;
// start_s / run_s split; peak_rss_MiB = VmHWM of the process (/proc/self/status), reset before each
// benchmark through /proc/self/clear_refs so it covers the topology plus this benchmark only;
// allocs_run = calls of operator new during Engine::run() (the model's storage grows while the transfers
// join, in the first solves); allocs_after_first = those from the first completion to the end, when every
// transfer has joined: 0, no event allocates.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/engine.hpp"
#include "hardware/catalog.hpp"
#include "network/flow_network.hpp"
#include "network/topology_fabric.hpp"
#include "topology/cluster_builder.hpp"
#include "topology/router.hpp"

// Counts calls of the global operator new (allocs_run). Benchmark-only; a function-local static because a
// replaced operator new can reach nothing else. Not inlined, as in max_min_solver_test.cpp.
namespace {
std::uint64_t& allocation_count() {
  static std::uint64_t count = 0;
  return count;
}
}  // namespace

[[gnu::noinline]] void* operator new(std::size_t size) {
  ++allocation_count();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t /*size*/) noexcept {
  std::free(p);
}
// The nothrow forms too: std::get_temporary_buffer (stable_sort, inplace_merge) allocates with them and
// releases through the sized delete above, so a sanitizer's own nothrow new would be paired with free().
[[gnu::noinline]] void* operator new(std::size_t size, const std::nothrow_t& /*tag*/) noexcept {
  ++allocation_count();
  return std::malloc(size == 0 ? 1 : size);
}
[[gnu::noinline]] void operator delete(void* p, const std::nothrow_t& /*tag*/) noexcept {
  std::free(p);
}

namespace mfusim::network {
namespace {

constexpr std::int64_t kTransferBytes = std::int64_t{64} << 20;
enum Pattern : std::int64_t { kRandom = 0, kRing = 1 };

const hardware::Catalog& catalog() {
  static const hardware::Catalog c = hardware::Catalog::load(hardware::Catalog::default_dir());
  return c;
}

const topology::Topology& superpod(std::int64_t nodes) {
  static std::map<std::int64_t, std::unique_ptr<topology::Topology>> cache;
  auto& t = cache[nodes];
  if (!t) {
    t = std::make_unique<topology::Topology>(
        topology::load_topology(std::filesystem::path(MFUSIM_SOURCE_DIR) / "topologies" / "dgx-h100-superpod.yaml",
                                {"nodes=" + std::to_string(nodes)}, catalog()));
  }
  return *t;
}

double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // the value is in kB
  }
  return 0.0;
}

void reset_peak_rss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";  // resets VmHWM to the current RSS (Linux >= 4.0); harmless if it fails
}

std::vector<std::pair<EndpointId, EndpointId>> make_pattern(const topology::Topology& t, std::int64_t pattern,
                                                            std::int64_t transfers) {
  const auto gpus = static_cast<std::uint32_t>(t.gpu_count());
  const auto nodes = static_cast<std::uint32_t>(t.node_count());
  const std::uint32_t per_node = gpus / nodes;
  std::vector<std::pair<EndpointId, EndpointId>> out;
  out.reserve(static_cast<std::size_t>(transfers));
  std::mt19937 rng(42);
  for (std::int64_t i = 0; i < transfers; ++i) {
    if (pattern == kRandom) {
      const std::uint32_t src = std::uniform_int_distribution<std::uint32_t>(0, gpus - 1)(rng);
      const std::uint32_t hop = std::uniform_int_distribution<std::uint32_t>(1, nodes - 1)(rng);
      const std::uint32_t node = (src / per_node + hop) % nodes;
      const std::uint32_t local = std::uniform_int_distribution<std::uint32_t>(0, per_node - 1)(rng);
      out.emplace_back(src, node * per_node + local);
    } else {
      const auto src = static_cast<std::uint32_t>(i % gpus);
      const std::uint32_t node = (src / per_node + 1) % nodes;
      out.emplace_back(src, node * per_node + src % per_node);
    }
  }
  return out;
}

// Args: pattern (0 random, 1 ring), nodes (8 GPUs each), transfers, solve mode (0 incremental, 1 full).
void BM_FlowNetworkSuperpod(benchmark::State& state) {
  const std::int64_t pattern = state.range(0);
  const topology::Topology& topo = superpod(state.range(1));
  const std::int64_t transfers = state.range(2);
  const FlowNetwork::Options options{state.range(3) == 0 ? FlowNetwork::SolveMode::kIncremental
                                                         : FlowNetwork::SolveMode::kFull};
  const auto pairs = make_pattern(topo, pattern, transfers);
  reset_peak_rss();
  FlowNetwork::Stats stats;
  MaxMinSolver::SolveCounts counts;
  double makespan_ms = 0.0;
  double start_s = 0.0;
  double run_s = 0.0;
  double allocs_run = 0.0;
  double allocs_after_first = 0.0;
  double events = 0.0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    topology::Router router(topo);
    TopologyFabric fabric(topo, router);
    core::Engine engine;
    FlowNetwork net(engine, fabric, options);
    engine.add_pending_source(net);
    std::int64_t done = 0;
    std::uint64_t allocs_at_first_completion = 0;
    const auto on_done = [&done, &allocs_at_first_completion](TransferId, core::SimTime) {
      if (done++ == 0) allocs_at_first_completion = allocation_count();
    };
    for (const auto& [src, dst] : pairs) net.start(src, dst, core::Bytes(kTransferBytes), on_done);
    const auto t1 = std::chrono::steady_clock::now();
    const std::uint64_t allocs_before = allocation_count();
    const core::RunResult result = engine.run();
    allocs_run = static_cast<double>(allocation_count() - allocs_before);
    allocs_after_first = static_cast<double>(allocation_count() - allocs_at_first_completion);
    events = static_cast<double>(result.events);
    const auto t2 = std::chrono::steady_clock::now();
    if (result.status != core::RunStatus::kCompleted || done != transfers) {
      state.SkipWithError("the run did not complete every transfer");
      return;
    }
    stats = net.stats();
    counts = net.solver_counts();
    makespan_ms = result.end_time.seconds() * 1e3;
    start_s = std::chrono::duration<double>(t1 - t0).count();
    run_s = std::chrono::duration<double>(t2 - t1).count();
  }
  state.counters["gpus"] = static_cast<double>(topo.gpu_count());
  state.counters["links"] = static_cast<double>(topo.links().size());
  state.counters["solves"] = static_cast<double>(stats.solves);
  state.counters["wakeups"] = static_cast<double>(stats.wakeups);
  state.counters["rounds"] = static_cast<double>(stats.solver_rounds);
  state.counters["level_cuts"] = static_cast<double>(counts.level_cuts);
  state.counters["failed_cuts"] = static_cast<double>(counts.failed_cuts);
  state.counters["full_solves"] = static_cast<double>(counts.full_solves);
  state.counters["solved_vars"] = static_cast<double>(stats.solved_variables);
  state.counters["rate_changes"] = static_cast<double>(stats.rate_changes);
  state.counters["makespan_ms"] = makespan_ms;
  state.counters["start_s"] = start_s;
  state.counters["run_s"] = run_s;
  state.counters["events"] = events;
  state.counters["allocs_run"] = allocs_run;
  state.counters["allocs_after_first"] = allocs_after_first;
  state.counters["peak_rss_MiB"] = peak_rss_mib();
}

BENCHMARK(BM_FlowNetworkSuperpod)
    ->ArgNames({"pattern", "nodes", "transfers", "full"})
    // Issue #3's instance: 16,384 GPUs, 100,000 transfers.
    ->Args({kRandom, 2048, 100'000, 0})
    ->Args({kRing, 2048, 100'000, 0})
    // Smaller instances (profiling, scaling).
    ->Args({kRandom, 256, 10'000, 0})
    ->Args({kRing, 256, 10'000, 0})
    // The full re-solve at every solve (the reference), for comparison.
    ->Args({kRandom, 256, 10'000, 1})
    ->Args({kRing, 256, 10'000, 1})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kSecond);

}  // namespace
}  // namespace mfusim::network
