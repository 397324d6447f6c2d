#include "collective/collective_config.hpp"

#include <gtest/gtest.h>

#include <string>

#include "config/config_error.hpp"
#include "config/loader.hpp"

namespace mfusim::collective {
namespace {

CollectiveConfig read(const std::string& yaml) {
  const auto node = config::parse_text(yaml, "c.yaml");
  config::Reader r(node, "", nullptr);
  return read_collective_config(r);
}

std::string error_of(const std::string& yaml) {
  try {
    read(yaml);
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CollectiveConfig, DefaultsAreNcclsAndEveryKeyIsRead) {
  const auto d = read("{}");
  EXPECT_EQ(d.fidelity, Fidelity::kAnalytical);
  EXPECT_TRUE(d.tuning.selection.empty());
  EXPECT_TRUE(d.tuning.nvls);
  EXPECT_FALSE(d.tuning.collnet);
  EXPECT_DOUBLE_EQ(d.sm.k, 1.0);
  EXPECT_DOUBLE_EQ(d.tuning.efficiency.at(1 << 20), 0.58);

  const auto c = read(
      "fidelity: flow\nalgorithm: ring,tree\nprotocol: simple\nnvls: false\ncollnet: true\nefficiency: none\n"
      "cpu: amd\nsm_contention_k: 0.5\n");
  EXPECT_EQ(c.fidelity, Fidelity::kFlow);
  EXPECT_EQ(c.tuning.selection.algorithms, (std::vector<Algorithm>{Algorithm::kRing, Algorithm::kTree}));
  EXPECT_EQ(c.tuning.selection.protocols, (std::vector<Protocol>{Protocol::kSimple}));
  EXPECT_FALSE(c.tuning.nvls);
  EXPECT_TRUE(c.tuning.collnet);
  EXPECT_DOUBLE_EQ(c.tuning.efficiency.at(1 << 20), 1.0);
  EXPECT_EQ(c.tuning.cpu, CpuVendor::kAmd);
  EXPECT_DOUBLE_EQ(c.sm.k, 0.5);
}

TEST(CollectiveConfig, BadValuesNameTheKey) {
  EXPECT_EQ(error_of("algorithm: rign\n"),
            "c.yaml:1:12: algorithm: unknown algorithm 'rign' (did you mean 'ring'?); valid: tree, ring, "
            "collnet_direct, collnet_chain, nvls, nvls_tree, pat, p2p");
  EXPECT_TRUE(
      error_of("fidelity: flw\n").starts_with("c.yaml:1:11: fidelity: unknown value 'flw' (did you mean 'flow'?)"))
      << error_of("fidelity: flw\n");
  EXPECT_TRUE(
      error_of("protocl: ll\n").starts_with("c.yaml:1:1: protocl: unknown key 'protocl' (did you mean 'protocol'?)"))
      << error_of("protocl: ll\n");
  EXPECT_EQ(error_of("sm_contention_k: -1\n"), "c.yaml:1:18: sm_contention_k: must be between 0 and 10");
}

}  // namespace
}  // namespace mfusim::collective
