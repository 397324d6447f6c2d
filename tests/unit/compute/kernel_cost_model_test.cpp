// The kernel cost model on the shipped H100 tables: batched (grouped) GEMMs.
#include "compute/kernel_cost_model.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace mfusim::compute
