#pragma once
// NCCL's tuner constants and the topology figures NCCL assumes, for NCCL 2.30.7 (NVIDIA/nccl master
// @ 5067397, makefiles/version.mk), as transcribed in ../shared/reference/nccl-model.md sections 2.1,
// 2.2 and 5.1 (src/graph/tuning.cc ncclTunerConstantsDefaults, nvlsEfficiency, treeCorrectionFactor;
// src/graph/topo.h link bandwidths; src/graph/search.cc speed arrays).
//
// Units as in NCCL: latencies in microseconds, bandwidths in GB/s (1e9 B/s). Indexes:
//   algorithm  Algorithm::kTree .. kPat (NCCL order)      protocol  LL, LL128, Simple
//   link       NVLink, PCI, NET (NCCL_HW_*)                arch      Volta, Ampere, Hopper, Blackwell
//   scale      1 node, 2 nodes, >= 3 nodes (NCCL: index = nNodes <= 2 ? nNodes - 1 : 2)
// The struct is a value: callers may copy the defaults and override entries, as NCCL's tuner plugins
// (ncclTunerConstants_t) can.
#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "collective/types.hpp"

namespace mfusim::collective {

enum class HwLink { kNvlink, kPci, kNet };
inline constexpr std::size_t kHwLinks = 3;
inline constexpr std::size_t kArchs = 4;
inline constexpr std::size_t kScales = 3;
inline constexpr std::size_t kTreeCorrectionSizes = 24;  // powers of two, 64 B .. 512 MiB (log2(S >> 6))

// NCCL's compute-capability rows. Non-NVIDIA GPUs use the Volta row (NCCL does not run on them; their
// collectives library differs): a stated approximation.
enum class GpuArch { kVolta, kAmpere, kHopper, kBlackwell };
// "volta", "ampere", "hopper", "blackwell" (hardware catalog `architecture`); anything else -> Volta,
// with `known` set to false.
GpuArch gpu_arch(std::string_view architecture, bool* known = nullptr);
// SM version: 70, 80, 90, 100.
int sm_version(GpuArch arch);

struct TunerConstants {
  using PerProtocol = std::array<double, kProtocols>;
  using PerScale = std::array<double, kScales>;

  std::string nccl_version;
  std::array<PerProtocol, kTunedAlgorithms> base_latency_us{};
  std::array<std::array<PerProtocol, kTunedAlgorithms>, kHwLinks> hw_latency_us{};
  std::array<PerScale, kArchs> ll_max_bw{};  // row = GPU arch for 1 node; row 0 Intel / 1 AMD CPU for multi-node
  std::array<PerScale, kArchs> per_channel_max_ring_ll128_bw{};
  std::array<PerScale, kArchs> per_channel_max_tree_ll128_bw{};
  std::array<PerScale, kArchs> per_channel_max_tree_bw{};
  std::array<PerScale, kArchs> per_channel_max_nvls_tree_bw{};
  std::array<double, kArchs> nvls_efficiency{};
  std::array<std::array<double, kTreeCorrectionSizes>, kProtocols> tree_correction{};

  // The defaults of NCCL 2.30.7.
  static TunerConstants nccl_2_30_7();

  double base_latency(Algorithm a, Protocol p) const;
  double hw_latency(HwLink l, Algorithm a, Protocol p) const;
};

// NVLink bandwidth NCCL assumes per link, GB/s (src/graph/topo.h): SM70/80 20.0, SM90 20.6, SM100 40.1.
double nccl_nvlink_bandwidth_per_link(GpuArch arch);

// Per-channel speeds the graph search tries, highest first (src/graph/search.cc).
std::span<const double> intra_node_speeds(GpuArch arch);
std::span<const double> inter_node_speeds(GpuArch arch);

}  // namespace mfusim::collective
