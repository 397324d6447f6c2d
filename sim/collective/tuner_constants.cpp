#include "collective/tuner_constants.hpp"

namespace mfusim::collective {
namespace {

constexpr std::size_t idx(Algorithm a) {
  return static_cast<std::size_t>(a);
}
constexpr std::size_t idx(Protocol p) {
  return static_cast<std::size_t>(p);
}
constexpr std::size_t idx(HwLink l) {
  return static_cast<std::size_t>(l);
}

// Speed arrays, GB/s per channel (src/graph/search.cc; nccl-model.md section 2.2).
constexpr double kIntraDefault[] = {40, 30, 20, 18, 15, 12, 10, 9, 7, 6, 5, 4, 3};
constexpr double kIntraSm90[] = {60, 50, 40, 30, 24, 20, 15, 12, 11, 6, 3};
constexpr double kIntraSm100[] = {90, 80, 70, 60, 50, 45, 40, 30, 24, 20, 19, 18};
constexpr double kInterDefault[] = {48, 30, 28, 24, 20, 18, 15, 12, 10, 9, 7, 6, 5, 4, 3, 2.4, 1.2, 0.24, 0.12};
constexpr double kInterSm90[] = {48, 45, 42, 40, 30, 24, 22, 20, 17.5, 15, 12, 6, 3, 2.4, 1.2, 0.24, 0.12};
// nccl-model.md gives SM100 as {96,86,80,48,45.1,42,40,30,...}; the tail is the SM90 tail.
constexpr double kInterSm100[] = {96, 86,   80, 48, 45.1, 42, 40,  30,  24,   22,
                                  20, 17.5, 15, 12, 6,    3,  2.4, 1.2, 0.24, 0.12};

}  // namespace

GpuArch gpu_arch(std::string_view architecture, bool* known) {
  if (known != nullptr) *known = true;
  if (architecture == "volta") return GpuArch::kVolta;
  if (architecture == "ampere") return GpuArch::kAmpere;
  if (architecture == "hopper") return GpuArch::kHopper;
  if (architecture == "blackwell") return GpuArch::kBlackwell;
  if (known != nullptr) *known = false;
  return GpuArch::kVolta;
}

int sm_version(GpuArch arch) {
  switch (arch) {
    case GpuArch::kVolta:
      return 70;
    case GpuArch::kAmpere:
      return 80;
    case GpuArch::kHopper:
      return 90;
    case GpuArch::kBlackwell:
      return 100;
  }
  return 70;
}

TunerConstants TunerConstants::nccl_2_30_7() {
  using A = Algorithm;
  TunerConstants c;
  c.nccl_version = "2.30.7";
  // baseLat (nccl-model.md 5.1), (LL, LL128, Simple).
  c.base_latency_us[idx(A::kTree)] = {6.8, 14.0, 8.4};
  c.base_latency_us[idx(A::kRing)] = {6.6, 14.0, 8.4};
  c.base_latency_us[idx(A::kCollNetDirect)] = {0, 0, 0};
  c.base_latency_us[idx(A::kCollNetChain)] = {0, 0, 0};
  c.base_latency_us[idx(A::kNvls)] = {0, 0, 0};
  c.base_latency_us[idx(A::kNvlsTree)] = {0, 0, 0};
  c.base_latency_us[idx(A::kPat)] = {8.0, 8.0, 8.0};
  // hwLat per hop.
  auto& nvl = c.hw_latency_us[idx(HwLink::kNvlink)];
  nvl[idx(A::kTree)] = {0.6, 1.25, 4.0};
  nvl[idx(A::kRing)] = {0.6, 1.9, 3.4};
  nvl[idx(A::kCollNetDirect)] = {0, 0, 3.7};
  nvl[idx(A::kCollNetChain)] = {0, 0, 2.8};
  nvl[idx(A::kNvls)] = {0, 0, 25};
  nvl[idx(A::kNvlsTree)] = {0, 0, 25};
  nvl[idx(A::kPat)] = {0, 0, 4.0};
  auto& pci = c.hw_latency_us[idx(HwLink::kPci)];
  pci[idx(A::kTree)] = {1.0, 1.9, 4.0};
  pci[idx(A::kRing)] = {1.0, 2.5, 5.7};
  pci[idx(A::kCollNetDirect)] = {0, 0, 3.7};
  pci[idx(A::kCollNetChain)] = {0, 0, 2.8};
  pci[idx(A::kNvls)] = {0, 0, 0};
  pci[idx(A::kNvlsTree)] = {0, 0, 0};
  pci[idx(A::kPat)] = {0, 0, 4.0};
  auto& net = c.hw_latency_us[idx(HwLink::kNet)];
  net[idx(A::kTree)] = {5.0, 8.5, 14};
  net[idx(A::kRing)] = {2.7, 4.0, 14.0};
  net[idx(A::kCollNetDirect)] = {0, 0, 31};
  net[idx(A::kCollNetChain)] = {0, 0, 30};
  net[idx(A::kNvls)] = {0, 0, 18};
  net[idx(A::kNvlsTree)] = {0, 0, 20.9};
  net[idx(A::kPat)] = {0, 0, 14};
  // Bandwidth caps, rows Volta / Ampere / Hopper / Blackwell, columns 1 / 2 / >= 3 nodes.
  c.ll_max_bw = {{{39.0, 39.0, 20.4}, {87.7, 22.5, 19.0}, {141.0, 45.0, 35.0}, {282.0, 90.0, 70.0}}};
  c.per_channel_max_ring_ll128_bw = {{{20.0, 20.0, 20.0}, {20.0, 20.0, 20.0}, {36.7, 36.7, 36.7}, {40.0, 40.0, 40.0}}};
  c.per_channel_max_tree_ll128_bw = {{{20.0, 20.0, 20.0}, {20.0, 20.0, 20.0}, {36.7, 36.7, 29.0}, {55.6, 31.67, 20.0}}};
  c.per_channel_max_tree_bw = {{{26.5, 18.5, 10.0}, {24.0, 23.6, 17.8}, {38.7, 41.4, 36.0}, {70.0, 42.8, 24.0}}};
  c.per_channel_max_nvls_tree_bw = {{{26.5, 18.5, 10.0}, {24.0, 23.6, 17.8}, {0.0, 57.7, 45.5}, {0.0, 96.0, 80.0}}};
  c.nvls_efficiency = {0.0, 0.0, 0.85, 0.74};
  // treeCorrectionFactor[proto][log2(nBytes >> 6)] (nccl-model.md 5.4).
  c.tree_correction[idx(Protocol::kLl)] = {1,  1,  1,  1,  .9, .8, .7, .7, .7, .7, .6, .5,
                                           .4, .4, .5, .6, .7, .8, .9, 1,  1,  1,  1,  1};
  c.tree_correction[idx(Protocol::kLl128)] = {1,  1,  1,  1,  1,  .9, .8, .8, .8, .7, .6, .6,
                                              .6, .6, .6, .6, .8, .9, .9, .9, .9, 1,  1,  1};
  c.tree_correction[idx(Protocol::kSimple)] = {.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5,
                                               .5, .5, .5, .6, .7, .8, .7, .7, .8, .9, .9, .9};
  return c;
}

double TunerConstants::base_latency(Algorithm a, Protocol p) const {
  return base_latency_us[idx(a)][idx(p)];
}

double TunerConstants::hw_latency(HwLink l, Algorithm a, Protocol p) const {
  return hw_latency_us[idx(l)][idx(a)][idx(p)];
}

double nccl_nvlink_bandwidth_per_link(GpuArch arch) {
  switch (arch) {
    case GpuArch::kVolta:
    case GpuArch::kAmpere:
      return 20.0;
    case GpuArch::kHopper:
      return 20.6;
    case GpuArch::kBlackwell:
      return 40.1;
  }
  return 20.0;
}

std::span<const double> intra_node_speeds(GpuArch arch) {
  switch (arch) {
    case GpuArch::kHopper:
      return kIntraSm90;
    case GpuArch::kBlackwell:
      return kIntraSm100;
    default:
      return kIntraDefault;
  }
}

std::span<const double> inter_node_speeds(GpuArch arch) {
  switch (arch) {
    case GpuArch::kHopper:
      return kInterSm90;
    case GpuArch::kBlackwell:
      return kInterSm100;
    default:
      return kInterDefault;
  }
}

}  // namespace mfusim::collective
