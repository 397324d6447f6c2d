#pragma once
// The hardware catalog: GPUs, NICs and switches with the datasheet figures the models need. Data lives
// in topologies/hardware/{gpus,nics,switches}.yaml, every number with its source (docs/models/hardware.md
// explains each field and convention: dense peaks, per-direction bandwidths, vendor-rated capacities).
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.hpp"
#include "core/units.hpp"

namespace mfusim::hardware {

enum class Dtype { kFp64, kFp32, kTf32, kBf16, kFp16, kFp8 };
std::string_view to_string(Dtype d);

struct ScaleUp {
  std::string kind;                  // nvlink3 | nvlink4 | nvlink5 | infinity-fabric
  int links = 0;
  core::Bandwidth bandwidth_per_direction;  // all links of one GPU, one direction
  bool nvls = false;                 // in-switch reduction (NVLink SHARP)
};

struct GpuSpec {
  std::string name;
  std::string vendor;
  std::string architecture;
  int sm_count = 0;
  // Dense peak per dtype; absent where the GPU has no such mode (fp8 before Hopper).
  std::optional<core::FlopRate> peak_fp64, peak_fp32, peak_tf32, peak_bf16, peak_fp16, peak_fp8;
  core::Bytes hbm_capacity;
  // Memory a training process can give its tensors: what the driver exposes (cudaMemGetInfo's total)
  // less what the process holds before its first tensor (CUDA context, cuBLAS / cuDNN handles and
  // workspace, NCCL's device state). Reported beside the peak; plans are checked against hbm_capacity
  // (docs/models/memory.md, "Usable memory").
  std::optional<core::Bytes> usable_memory;
  core::Bandwidth hbm_bandwidth;
  ScaleUp scale_up;
  core::Power tdp;
  std::optional<core::Power> idle_power;  // measured idle draw
  std::optional<core::Power> busy_power;  // sustained draw at full tensor-core load (docs/models/energy.md)
  std::vector<std::string> sources;
  std::optional<core::FlopRate> peak(Dtype d) const;
};

struct NicSpec {
  std::string name;
  std::string protocol;  // infiniband | roce
  core::Bandwidth port_bandwidth;
  std::optional<core::Duration> latency;
  std::optional<core::Power> power;
  std::vector<std::string> sources;
};

struct SwitchSpec {
  std::string name;
  std::string kind;  // infiniband | ethernet | nvswitch
  int radix = 0;
  core::Bandwidth port_bandwidth;
  std::optional<core::Duration> latency;
  std::optional<core::Power> power;
  bool sharp = false;
  std::vector<std::string> sources;
};

// A node kind (one NVLink domain): which GPUs, how many, which compute NICs.
struct NodeSpec {
  std::string name;
  std::string gpu;
  int gpus = 0;
  std::string nvswitch;  // switch catalog name of the NVLink switch chip ("" for none)
  std::string nic;
  int nics = 0;
  std::vector<std::string> sources;
};

class Catalog {
 public:
  // Loads gpus.yaml, nics.yaml, switches.yaml and nodes.yaml from `dir`; throws InputError with file:line:col.
  static Catalog load(const std::filesystem::path& dir);
  // The catalog shipped in the source tree (topologies/hardware).
  static const std::filesystem::path& default_dir();

  // Lookups by exact name; an unknown name is an InputError listing the valid ones (with did-you-mean).
  const GpuSpec& gpu(std::string_view name) const;
  const NicSpec& nic(std::string_view name) const;
  const SwitchSpec& switch_spec(std::string_view name) const;
  const GpuSpec* find_gpu(std::string_view name) const;
  const NicSpec* find_nic(std::string_view name) const;
  const SwitchSpec* find_switch(std::string_view name) const;
  const NodeSpec& node(std::string_view name) const;

  const std::vector<GpuSpec>& gpus() const { return gpus_; }
  const std::vector<NicSpec>& nics() const { return nics_; }
  const std::vector<SwitchSpec>& switches() const { return switches_; }
  const std::vector<NodeSpec>& nodes() const { return nodes_; }

  void add(GpuSpec g) { gpus_.push_back(std::move(g)); }
  void add(NicSpec n) { nics_.push_back(std::move(n)); }
  void add(SwitchSpec s) { switches_.push_back(std::move(s)); }

 private:
  std::vector<GpuSpec> gpus_;
  std::vector<NicSpec> nics_;
  std::vector<SwitchSpec> switches_;
  std::vector<NodeSpec> nodes_;
};

}  // namespace mfusim::hardware
