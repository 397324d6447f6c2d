#pragma once
// What the compute model needs to know about one GPU kernel: its class, its shape, and the work it
// does (FLOPs actually executed, bytes moved to and from HBM). The workload layer produces these from
// a model and a parallel plan; the KernelCostModel turns them into durations.
#include <cstdint>

#include "hardware/catalog.hpp"

namespace mfusim::compute {

enum class KernelKind : std::uint8_t {
  kGemm,       // dense matrix multiply (or a group of equal ones: grouped MoE experts)
  kAttention,  // fused (flash) attention, forward or backward
  kMemory,     // memory-bound: elementwise, norms, softmax, embedding, cross-entropy, permutation
  kOptimizer,  // fused optimizer update over a parameter shard
};

enum class MemoryOpClass : std::uint8_t { kElementwise, kNorm, kSoftmax, kCopy };

struct GemmShape {
  std::int64_t m = 0;
  std::int64_t n = 0;
  std::int64_t k = 0;
  std::int64_t count = 1;  // equal GEMMs executed back to back (grouped GEMM)
};

struct AttentionShape {
  std::int64_t batch_heads = 0;  // micro-batch x local query heads
  std::int64_t seq_q = 0;
  std::int64_t seq_kv = 0;
  std::int64_t head_dim = 0;
  bool causal = true;
  bool backward = false;
  // cuDNN's fused attention (what Transformer Engine runs on Hopper) instead of the flash backend: looked
  // up in the calibration's attention_cudnn table where it has one.
  bool cudnn = false;
};

struct Kernel {
  KernelKind kind = KernelKind::kMemory;
  hardware::Dtype dtype = hardware::Dtype::kBf16;
  GemmShape gemm;
  AttentionShape attention;
  MemoryOpClass memory_class = MemoryOpClass::kElementwise;
  double flops = 0.0;  // executed (causal attention counts only the unmasked half)
  double bytes = 0.0;  // HBM bytes read + written
};

}  // namespace mfusim::compute
