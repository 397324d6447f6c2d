#pragma once
// Kernel cost model (roofline with measured efficiencies):
//
//   time = max(FLOPs / (peak[dtype] x eff_compute), bytes / (HBM bandwidth x eff_memory)) + launch
//
// eff_compute: GEMMs, the measured efficiency at the nearest calibrated shapes (inverse-distance
// weighting over the 4 nearest points in (log2 M, log2 N, log2 K); an exact shape returns its
// measurement); attention, linear in log2(sequence length) between the calibrated lengths of the
// nearest head dimension, forward and backward separately. eff_memory: memory-bound kernels, the
// measured bandwidth of the same class (elementwise, norm, softmax, copy) interpolated in log2(bytes);
// for GEMMs and attention the copy bandwidth bounds the memory side. The optimizer step uses the
// measured fused-AdamW bandwidth. launch: the measured eager launch overhead per kernel.
//
// GPUs without their own tables use another GPU's efficiencies against their own peaks and HBM
// bandwidth ("scaled"); a GPU whose own table has too few GEMM shapes borrows only the GEMM part.
// provenance() says which, so reports can flag it.
#include <array>
#include <filesystem>
#include <utility>
#include <vector>
#include <mutex>
#include <string>
#include <unordered_map>

#include "compute/calibration.hpp"
#include "compute/kernel.hpp"
#include "core/time.hpp"
#include "hardware/catalog.hpp"

namespace mfusim::compute {

class KernelCostModel {
 public:
  // A GPU's own GEMM table is used when it covers at least this many shapes; sparser (published)
  // tables borrow the reference GPU's GEMM efficiencies and keep their own attention, memory-bound and
  // launch figures.
  static constexpr std::size_t kMinGemmShapes = 50;

  // `hbm_ratio`: this GPU's HBM bandwidth over the measured GPU's (1 for its own tables); measured
  // memory-bound bandwidths are scaled by it.
  KernelCostModel(const hardware::GpuSpec& gpu, CalibrationTables tables, bool scaled, double hbm_ratio = 1.0);
  KernelCostModel(const KernelCostModel& other);
  KernelCostModel& operator=(const KernelCostModel&) = delete;

  // Tables for `gpu` from workloads/calibration/<dir>/kernels.yaml when measured, else the H100 tables
  // scaled. `calibration_dir` is workloads/calibration.
  static KernelCostModel for_gpu(const hardware::Catalog& catalog, const hardware::GpuSpec& gpu,
                                 const std::filesystem::path& calibration_dir);
  static const std::filesystem::path& default_calibration_dir();

  core::Duration time(const Kernel& k) const;
  double gemm_efficiency(const GemmShape& g, hardware::Dtype dtype) const;
  double attention_efficiency(const AttentionShape& a) const;
  // Whether these tables measured cuDNN's fused attention (AttentionShape::cudnn); without them cuDNN
  // attention is costed from the flash table.
  bool has_cudnn_attention() const { return !attention_cudnn_curves_.empty(); }
  double memory_bandwidth(MemoryOpClass c, double bytes) const;  // bytes/s
  double optimizer_bandwidth(double bytes) const;                 // bytes/s
  core::Duration launch_overhead() const { return launch_; }

  const hardware::GpuSpec& gpu() const { return gpu_; }
  // e.g. "measured on H100-SXM5-80GB (workloads/calibration/h100-sxm5-80gb/kernels.yaml)" or
  // "scaled from H100-SXM5-80GB tables (no measurements for B200)".
  const std::string& provenance() const { return provenance_; }
  bool scaled() const { return scaled_; }

 private:
  double gemm_efficiency_uncached(const GemmShape& g, hardware::Dtype dtype) const;
  void build_curves();

  using Curve = std::vector<std::pair<double, double>>;  // sorted (x, y), equal x averaged

  const hardware::GpuSpec& gpu_;
  CalibrationTables tables_;
  bool scaled_;
  double hbm_ratio_;  // this GPU's HBM bandwidth / the measured GPU's (1 for its own tables)
  std::string provenance_;
  core::Duration launch_;
  // Memoised GEMM efficiencies: a step repeats the same few shapes many thousand times, and each
  // lookup scans the table. Guarded so one model can serve several threads (sweeps).
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::uint64_t, double> gemm_cache_;
  std::array<Curve, 4> memory_curves_;  // bandwidth over bytes, per MemoryOpClass
  Curve optimizer_curve_;
  struct AttentionCurve {
    bool backward;
    bool causal;
    double head_dim;
    Curve efficiency;  // over sequence length
  };
  std::vector<AttentionCurve> attention_curves_;
  std::vector<AttentionCurve> attention_cudnn_curves_;
};

// Directory name of a GPU's tables: the catalog name in lower case ("h100-sxm5-80gb").
std::string calibration_dir_name(const std::string& gpu_name);

}  // namespace mfusim::compute
