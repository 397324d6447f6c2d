// The kernel cost model on the shipped H100 tables: batched (grouped) GEMMs; cuDNN or flash attention;
// the power-limited throughput ceiling of tensor-core kernels and the loader's checks of it.
#include "compute/kernel_cost_model.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "hardware/catalog.hpp"

namespace mfusim::compute {
namespace {

Kernel gemm(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t count) {
  Kernel g;
  g.kind = KernelKind::kGemm;
  g.gemm = {m, n, k, count};
  g.flops = 2.0 * static_cast<double>(m * n * k * count);
  g.bytes = 2.0 * static_cast<double>((m * k + k * n + m * n) * count);
  return g;
}

TEST(KernelCostModel, BatchedGemmFillsTheGpuLikeOneTallGemm) {
  const auto catalog = hardware::Catalog::load(hardware::Catalog::default_dir());
  const auto cost = KernelCostModel::for_gpu(catalog, catalog.gpu("H100-SXM5-80GB"), KernelCostModel::default_calibration_dir());
  // Compute-bound: 8 GEMMs of 4096^3 take as long as one GEMM of (8 x 4096) x 4096 x 4096.
  const double batched = cost.time(gemm(4096, 4096, 4096, 8)).seconds();
  const double tall = cost.time(gemm(8 * 4096, 4096, 4096, 1)).seconds();
  EXPECT_NEAR(batched / tall, 1.0, 1e-3) << "a batch of GEMMs is looked up at m x count";
  // Many small problems (attention scores per head: 2048 x 2048 x 96, 384 heads) run far better than
  // 384 isolated small GEMMs would, and no faster than their operand traffic at HBM speed allows.
  const Kernel scores = gemm(2048, 2048, 96, 384);
  const double t = cost.time(scores).seconds();
  EXPECT_LT(t, 384.0 * cost.time(gemm(2048, 2048, 96, 1)).seconds() * 0.5);
  EXPECT_GE(t, scores.bytes / 3.35e12) << "cannot beat the datasheet HBM bandwidth";
}

Kernel attention(std::int64_t seq, bool backward, bool cudnn) {
  Kernel a;
  a.kind = KernelKind::kAttention;
  a.attention = {32, seq, seq, 128, true, backward, cudnn};
  // executed causal FLOPs: half of 4 b h s^2 d, 2.5x that backward (ops.cpp)
  const double fwd = 0.5 * 4.0 * 32.0 * static_cast<double>(seq * seq) * 128.0;
  a.flops = backward ? 2.5 * fwd : fwd;
  a.bytes = 4.0 * 32.0 * static_cast<double>(seq) * 128.0 * 2.0;
  return a;
}

TEST(KernelCostModel, CudnnAttentionIsLookedUpInItsOwnTable) {
  const auto catalog = hardware::Catalog::load(hardware::Catalog::default_dir());
  const auto h100 = KernelCostModel::for_gpu(catalog, catalog.gpu("H100-SXM5-80GB"), KernelCostModel::default_calibration_dir());
  ASSERT_TRUE(h100.has_cudnn_attention()) << "the H100 tables carry attention_cudnn (measure_kernels.py)";
  // Measured on the H100 (kernels.yaml): at s = 8192, d = 128 cuDNN's kernels run forward and backward
  // well above PyTorch's FlashAttention-2; the model must report the table it was asked for.
  for (const bool backward : {false, true}) {
    const double flash = h100.time(attention(8192, backward, false)).seconds();
    const double cudnn = h100.time(attention(8192, backward, true)).seconds();
    EXPECT_LT(cudnn, 0.8 * flash) << (backward ? "backward" : "forward") << ": cuDNN " << cudnn << " s vs flash " << flash
                                  << " s; the cuDNN table must be used when AttentionShape::cudnn is set";
  }
  // A GPU without cuDNN measurements (A100: published FlashAttention-2 sweep) costs both from its flash table.
  const auto a100 = KernelCostModel::for_gpu(catalog, catalog.gpu("A100-SXM4-80GB"), KernelCostModel::default_calibration_dir());
  EXPECT_FALSE(a100.has_cudnn_attention());
  EXPECT_DOUBLE_EQ(a100.time(attention(4096, true, true)).seconds(), a100.time(attention(4096, true, false)).seconds());
}

TEST(KernelCostModel, TensorCoreKernelsAreCappedAtThePowerLimitedThroughput) {
  const auto catalog = hardware::Catalog::load(hardware::Catalog::default_dir());
  const auto& gpu = catalog.gpu("H100-SXM5-80GB");
  const auto h100 = KernelCostModel::for_gpu(catalog, gpu, KernelCostModel::default_calibration_dir());
  const auto tables = CalibrationTables::load(KernelCostModel::default_calibration_dir() / "h100-sxm5-80gb" / "kernels.yaml");
  ASSERT_LT(tables.sustained_ceiling_bf16, 1.0) << "h100-sxm5-80gb/sustained.yaml is read with the tables";
  const double peak = gpu.peak(hardware::Dtype::kBf16)->value();
  // A large GEMM runs faster alone than the GPU sustains at its power limit: time = FLOPs / (peak x ceiling) + launch.
  const Kernel big = gemm(8192, 8192, 8192, 1);
  ASSERT_GT(h100.gemm_efficiency(big.gemm, hardware::Dtype::kBf16), tables.sustained_ceiling_bf16)
      << "precondition: 8192^3 runs above the ceiling when timed alone";
  EXPECT_NEAR(h100.time(big).seconds(), big.flops / (peak * tables.sustained_ceiling_bf16) + h100.launch_overhead().seconds(), 1e-9)
      << "a GEMM faster alone than the power-limited ceiling runs at the ceiling";
  // A small GEMM below the ceiling keeps its measured efficiency: time = FLOPs / (peak x efficiency) + launch.
  const Kernel small = gemm(256, 1024, 1024, 1);
  const double eff = h100.gemm_efficiency(small.gemm, hardware::Dtype::kBf16);
  ASSERT_LT(eff, tables.sustained_ceiling_bf16) << "precondition: 256x1024x1024 runs below the ceiling";
  const double compute = small.flops / (peak * eff);
  const double memory = small.bytes / h100.memory_bandwidth(MemoryOpClass::kCopy, small.bytes);
  EXPECT_NEAR(h100.time(small).seconds(), std::max(compute, memory) + h100.launch_overhead().seconds(), 1e-12)
      << "a GEMM below the ceiling is not slowed";
  EXPECT_NE(h100.provenance().find("power limit"), std::string::npos) << "reports say the ceiling is applied: " << h100.provenance();
  // Memory-bound kernels keep their measured bandwidth (the SM clock does not set HBM bandwidth).
  Kernel copy;
  copy.kind = KernelKind::kMemory;
  copy.memory_class = MemoryOpClass::kCopy;
  copy.bytes = 1e9;
  EXPECT_NEAR(h100.time(copy).seconds(), 1e9 / h100.memory_bandwidth(MemoryOpClass::kCopy, 1e9) + h100.launch_overhead().seconds(), 1e-12);
  // Not measured for the A100 (its own tables, no sustained.yaml): no ceiling.
  const auto a100 = CalibrationTables::load(KernelCostModel::default_calibration_dir() / "a100-sxm4-80gb" / "kernels.yaml");
  EXPECT_EQ(a100.sustained_ceiling_bf16, 1.0);
  EXPECT_EQ(a100.sustained_ceiling_fp8, 1.0);
}

TEST(CalibrationTables, PowerLimitedCeilingIsCheckedAgainstThePeak) {
  // A sustained.yaml beside a GPU's tables: the ceiling becomes an efficiency against
  // peak_reference_tflops; above the peak, or a dtype without a peak, is an error naming the key.
  const auto dir = std::filesystem::temp_directory_path() / ("mfusim-ceiling-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(KernelCostModel::default_calibration_dir() / "a100-sxm4-80gb" / "kernels.yaml", dir / "kernels.yaml",
                             std::filesystem::copy_options::overwrite_existing);
  const auto write = [&](const std::string& ceiling) {
    std::ofstream(dir / "sustained.yaml") << "schema: mfusim-power-ceiling/1\npower_limited_tflops: " << ceiling << "\nchains: []\n";
  };
  write("{bf16: 249.6}");
  EXPECT_NEAR(CalibrationTables::load(dir / "kernels.yaml").sustained_ceiling_bf16, 249.6 / 312.0, 1e-12)
      << "the ceiling as a fraction of the A100's 312 TFLOP/s reference peak";
  const auto error_of = [&](const std::string& ceiling) {
    write(ceiling);
    try {
      CalibrationTables::load(dir / "kernels.yaml");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("{bf16: 400}").find("power_limited_tflops.bf16: a sustained throughput ceiling cannot exceed the peak"),
            std::string::npos)
      << error_of("{bf16: 400}");
  EXPECT_NE(error_of("{bf16: 250, fp8: 500}").find("power_limited_tflops.fp8: needs peak_reference_tflops.fp8"), std::string::npos)
      << error_of("{bf16: 250, fp8: 500}") << " (the A100 tables give no fp8 peak)";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mfusim::compute
