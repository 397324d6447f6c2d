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
  // Peak the efficiencies above are relative to, TFLOP/s (peak_reference_tflops; 0 when not given).
  double peak_reference_bf16_tflops = 0.0;
  double peak_reference_fp8_tflops = 0.0;
  // Power-limited throughput ceiling of tensor-core kernels, as a fraction of the reference peak (1 =
  // not measured for this GPU). The tables time each kernel alone, at SM clocks up to the maximum; a
  // layer's GEMMs run back to back for seconds hold the GPU at its power limit, where they settle at
  // one throughput whatever their shapes (measure_sustained.py: 663-678 TFLOP/s bf16 on a 700 W GH100).
  // The cost model runs a GEMM at min(its isolated efficiency, this ceiling). Read from sustained.yaml
  // beside kernels.yaml (power_limited_tflops / peak_reference_tflops).
  double sustained_ceiling_bf16 = 1.0;
  double sustained_ceiling_fp8 = 1.0;
  std::string sustained_source;  // the sustained.yaml read, empty when none

  // Throws ConfigError with file:line:column on bad input.
  static CalibrationTables load(const std::filesystem::path& file);
};

}  // namespace mfusim::compute
