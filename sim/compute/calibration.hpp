#pragma once
// Calibration tables measured on a real GPU by workloads/calibration/measure_kernels.py (schema
// mfusim-calibration/1; method in workloads/calibration/README.md): achieved efficiency of GEMMs over
// (M, N, K) per dtype, of flash attention over sequence length and head dimension, achieved bandwidth of
// memory-bound kernels and of the fused optimizer over tensor size, and the kernel launch overhead.
#include <filesystem>
#include <string>
#include <vector>

#include "compute/kernel.hpp"

namespace mfusim::compute {

struct GemmPoint {
  double m, n, k;
  double efficiency;  // achieved FLOP/s / dense peak of the dtype
};

struct AttentionPoint {
  bool backward;
  bool causal;
  double seq;
  double head_dim;
  double efficiency;  // executed causal FLOP/s (see ops.hpp) / dense bf16 peak
};

struct BandwidthPoint {
  MemoryOpClass op_class;
  double bytes;
  double bytes_per_second;  // achieved (read + written) / time
};

struct CalibrationTables {
  std::string gpu;     // catalog name of the GPU measured
  std::string source;  // file it was read from
  std::string measured_on;
  std::vector<GemmPoint> gemm_bf16;
  std::vector<GemmPoint> gemm_fp8;
  std::vector<AttentionPoint> attention;        // flash backend (FlashAttention-2 in PyTorch)
  std::vector<AttentionPoint> attention_cudnn;  // cuDNN fused attention (optional)
  std::vector<BandwidthPoint> memory_bound;
  std::vector<BandwidthPoint> optimizer;  // op_class unused; bytes = optimizer bytes moved
  double launch_overhead_us = 0.0;        // eager launch, per kernel
  // Sustained-load slowdown of compute-bound kernels (GEMMs; attention with the bf16 figure): a layer's
  // GEMMs run back to back for seconds hold the GPU at its power limit, where the SM clock settles below
  // what the isolated timings of the tables ran at. Measured by measure_sustained.py as (back-to-back
  // chain time) / (sum of the same kernels timed alone); read from sustained.yaml beside kernels.yaml
  // when there is one (1 = not measured for this GPU).
  double sustained_slowdown_bf16 = 1.0;
  double sustained_slowdown_fp8 = 1.0;
  std::string sustained_source;  // the sustained.yaml read, empty when none

  // Throws ConfigError with file:line:column on bad input.
  static CalibrationTables load(const std::filesystem::path& file);
};

}  // namespace mfusim::compute
