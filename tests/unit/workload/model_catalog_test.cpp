#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "workload/model_spec.hpp"

namespace mfusim::workload {
namespace {

TEST(ModelCatalog, EveryModelLoadsAndMatchesItsPublishedSize) {
  const auto names = catalog_model_names(default_model_dir());
  ASSERT_GE(names.size(), 20u) << "the catalog in workloads/models is missing";
  for (const auto& name : names) {
    const ModelSpec m = load_catalog_model(default_model_dir(), name);
    ASSERT_TRUE(m.parameters_published.has_value()) << name << " has no published parameter count";
    const double ratio = static_cast<double>(m.total_parameters()) / *m.parameters_published;
    // Published sizes are rounded (the SC'21 table prints 1.65B as 1.7B): 3.5% covers every model.
    EXPECT_NEAR(ratio, 1.0, 0.035) << name << ": computed " << m.total_parameters() << " vs published "
                                   << *m.parameters_published;
    EXPECT_FALSE(m.sources.empty()) << name << " cites no source";
  }
}

TEST(ModelCatalog, KnownCounts) {
  const ModelSpec l7 = load_catalog_model(default_model_dir(), "llama2-7b");
  EXPECT_EQ(l7.total_parameters(), 6738415616) << "Llama 2 7B has exactly 6,738,415,616 parameters (HF)";
  const ModelSpec mix = load_catalog_model(default_model_dir(), "mixtral-8x7b");
  EXPECT_NEAR(static_cast<double>(mix.total_parameters()) / 46.7e9, 1.0, 0.01);
  EXPECT_NEAR(static_cast<double>(mix.active_parameters()) / 12.9e9, 1.0, 0.01) << "Mixtral: 12.9B active per token";
  const ModelSpec ds = load_catalog_model(default_model_dir(), "deepseek-v3");
  EXPECT_NEAR(static_cast<double>(ds.total_parameters()) / 671e9, 1.0, 0.01);
  EXPECT_EQ(ds.moe_layer_count(), 58) << "61 layers, the first 3 dense";
}

TEST(ModelCatalog, UnknownModelSuggests) {
  try {
    load_catalog_model(default_model_dir(), "llama3.1-70");
    FAIL();
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'llama3.1-70b'?"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mfusim::workload
