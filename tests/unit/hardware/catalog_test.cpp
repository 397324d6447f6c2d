#include "hardware/catalog.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace mfusim::hardware {
namespace {

TEST(Catalog, ShippedCatalogLoadsWithDenseBf16Peaks) {
  const Catalog c = Catalog::load(Catalog::default_dir());
  const GpuSpec& h100 = c.gpu("H100-SXM5-80GB");
  EXPECT_DOUBLE_EQ(h100.peak(Dtype::kBf16)->value(), 989.4e12) << "dense BF16 peak of H100 SXM5 (whitepaper)";
  EXPECT_DOUBLE_EQ(h100.scale_up.bandwidth_per_direction.value(), 450e9) << "900 GB/s bidirectional = 450 per direction";
  EXPECT_EQ(h100.hbm_capacity.count(), 80LL << 30);
  // Measured on this project's H100 (memory_overhead.yaml): cudaMemGetInfo's total 85,017,493,504 B less
  // the 1,361,903,616 B a process with CUDA context, cuBLAS, cuDNN attention and NCCL holds.
  ASSERT_TRUE(h100.usable_memory.has_value());
  EXPECT_EQ(h100.usable_memory->count(), 85017493504LL - 1361903616LL);
  for (const auto& g : c.gpus()) {
    ASSERT_TRUE(g.usable_memory.has_value()) << g.name;
    EXPECT_LT(g.usable_memory->count(), g.hbm_capacity.count()) << g.name << ": a process cannot use all of the rated memory";
  }
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

TEST(Catalog, UsableMemoryAboveTheRatedCapacityIsAnError) {
  // A copy of the shipped catalog whose H100 claims more usable memory than it has.
  const auto dir = std::filesystem::temp_directory_path() / "mfusim_catalog_usable_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const char* f : {"gpus.yaml", "nics.yaml", "nodes.yaml", "switches.yaml"}) {
    std::filesystem::copy_file(Catalog::default_dir() / f, dir / f);
  }
  std::ifstream in(dir / "gpus.yaml");
  std::stringstream text;
  text << in.rdbuf();
  in.close();
  std::string yaml = text.str();
  const std::string from = "usable_memory: 83655589888B";
  ASSERT_NE(yaml.find(from), std::string::npos);
  yaml.replace(yaml.find(from), from.size(), "usable_memory: 90GiB");
  std::ofstream(dir / "gpus.yaml") << yaml;
  try {
    Catalog::load(dir);
    FAIL() << "usable_memory above hbm_capacity accepted";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("usable_memory"), std::string::npos) << what;
    EXPECT_NE(what.find("at most hbm_capacity (85899345920 B)"), std::string::npos) << what;
    EXPECT_NE(what.find("gpus.yaml:"), std::string::npos) << "the error names the file and line: " << what;
  }
  std::filesystem::remove_all(dir);
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
