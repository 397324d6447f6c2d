#include "hardware/catalog.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace mfusim::hardware {
namespace {

TEST(Catalog, ShippedCatalogLoadsWithDenseBf16Peaks) {
  const Catalog c = Catalog::load(Catalog::default_dir());
  const GpuSpec& h100 = c.gpu("H100-SXM5-80GB");
  EXPECT_DOUBLE_EQ(h100.peak(Dtype::kBf16)->value(), 989.4e12) << "dense BF16 peak of H100 SXM5 (whitepaper)";
  EXPECT_DOUBLE_EQ(h100.scale_up.bandwidth_per_direction.value(), 450e9) << "900 GB/s bidirectional = 450 per direction";
  EXPECT_EQ(h100.hbm_capacity.count(), 80LL << 30);
  EXPECT_FALSE(c.gpu("A100-SXM4-80GB").peak(Dtype::kFp8).has_value()) << "Ampere has no FP8";
  EXPECT_DOUBLE_EQ(c.nic("ConnectX-7-NDR400").port_bandwidth.value(), 50e9);
  EXPECT_EQ(c.switch_spec("Quantum-2-QM9700").radix, 64);
  EXPECT_EQ(c.node("dgx-h100").gpus, 8);
  for (const char* gpu : {"A100-SXM4-40GB", "A100-SXM4-80GB", "H100-SXM5-80GB", "H800-SXM5-80GB", "H200-SXM-141GB",
                          "B200", "GB200", "MI300X"}) {
    EXPECT_NE(c.find_gpu(gpu), nullptr) << gpu << " is required by the catalog issue";
  }
  for (const auto& g : c.gpus()) EXPECT_FALSE(g.sources.empty()) << g.name << " cites no source";
}

TEST(Catalog, UnknownNameSuggests) {
  const Catalog c = Catalog::load(Catalog::default_dir());
  try {
    c.gpu("H100-SXM5-80G");
    FAIL() << "unknown GPU accepted";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'H100-SXM5-80GB'?"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mfusim::hardware
