// Golden tests: each shipped scenario's JSON report must match the committed one (numbers within a
// relative tolerance of 1e-9, everything else exactly), and two runs must be byte-identical.
// Regenerate with scripts/regen-golden after reviewing why the output changed.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli/app.hpp"

namespace {

const std::filesystem::path kRoot = MFUSIM_SOURCE_DIR;

std::string run_to_json(const std::string& scenario) {
  const std::string path = (kRoot / "scenarios" / (scenario + ".yaml")).string();
  const char* argv[] = {"mfusim", "run", path.c_str(), "--json", "-", "--quiet"};
  std::ostringstream out, err;
  const int code = mfusim::cli::run_cli(6, argv, out, err);
  EXPECT_EQ(code, 0) << err.str();
  return out.str();
}

void expect_close(const nlohmann::json& got, const nlohmann::json& want, const std::string& where) {
  if (want.is_number_float() || (want.is_number() && got.is_number_float())) {
    const double g = got.get<double>(), w = want.get<double>();
    EXPECT_LE(std::fabs(g - w), 1e-9 * std::max(1.0, std::fabs(w))) << where << ": got " << g << ", golden " << w;
    return;
  }
  ASSERT_EQ(got.type(), want.type()) << where;
  if (want.is_object()) {
    ASSERT_EQ(got.size(), want.size()) << where << ": keys differ\ngot: " << got.dump() << "\ngolden: " << want.dump();
    for (auto it = want.begin(); it != want.end(); ++it) {
      ASSERT_TRUE(got.contains(it.key())) << where << ": missing key " << it.key();
      expect_close(got[it.key()], it.value(), where + "." + it.key());
    }
  } else if (want.is_array()) {
    ASSERT_EQ(got.size(), want.size()) << where;
    for (std::size_t i = 0; i < want.size(); ++i) expect_close(got[i], want[i], where + "[" + std::to_string(i) + "]");
  } else {
    EXPECT_EQ(got, want) << where;
  }
}

class Golden : public testing::TestWithParam<std::string> {};

TEST_P(Golden, MatchesCommittedReport) {
  const std::string got = run_to_json(GetParam());
  std::ifstream f(kRoot / "tests/golden" / (GetParam() + ".json"));
  ASSERT_TRUE(f) << "no golden file; run scripts/regen-golden";
  std::stringstream want;
  want << f.rdbuf();
  auto got_json = nlohmann::json::parse(got);
  auto want_json = nlohmann::json::parse(want.str());
  // `source` is the path as given on the command line; it depends on where the test runs from.
  got_json.erase("source");
  want_json.erase("source");
  expect_close(got_json, want_json, GetParam());
}

TEST_P(Golden, IsDeterministic) {
  EXPECT_EQ(run_to_json(GetParam()), run_to_json(GetParam())) << "same inputs must give byte-identical JSON";
}

INSTANTIATE_TEST_SUITE_P(Scenarios, Golden, testing::Values("quickstart", "pipeline-exercise"));

TEST(RunReport, ParallelGroupsShowThePlacementAndTheNodesEachGroupSpans) {
  // Mixtral 8x7B on 8 DGX H100 nodes, TP 2 x DP 32, EP 8 (expert_tp = tp = 2): rank 0's TP pair is in
  // one node; its EP group is 8 DP indices of TP rank 0 (ranks 0, 2, ..., 14: two nodes); its expert
  // data-parallel group the 4 ranks 16 apart (64 / (8 x 2) = 4, one per two nodes).
  const auto j = nlohmann::json::parse(run_to_json("mixtral-8x7b-ep"));
  ASSERT_TRUE(j.contains("groups")) << j.dump();
  const auto& g = j["groups"];
  EXPECT_EQ(g["TP"]["size"], 2);
  EXPECT_EQ(g["TP"]["nodes"], 1);
  EXPECT_EQ(g["DP"]["size"], 32);
  EXPECT_EQ(g["EP"]["ranks"], "0-14 step 2");
  EXPECT_EQ(g["EP"]["nodes"], 2) << "8 GPUs per node: ranks 0-14 span two";
  EXPECT_EQ(g["EDP"]["size"], 4);
  EXPECT_EQ(g["EDP"]["ranks"], "0-48 step 16");
  EXPECT_FALSE(g.contains("PP")) << "pp = 1: no pipeline group";
  EXPECT_FALSE(g.contains("ETP")) << "expert_tp = tp: the expert-TP group is the TP group";
}

TEST(RunReport, RunsSayHowTheyRecomputeAndWhatTheModelAdds) {
  // Notes for the training options that change what a step runs or keeps: the recompute modules of
  // selective recomputation, FP8-cached activations and the MTP module (DeepSeek-V3 scenario); a
  // selective run with Megatron's default names core_attn (Llama 3.1 70B scenario).
  const auto notes = [](const std::string& scenario) {
    const auto j = nlohmann::json::parse(run_to_json(scenario));
    std::string all;
    for (const auto& n : j["notes"]) all += n.get<std::string>() + "\n";
    return all;
  };
  const std::string deepseek = notes("deepseek-v3-moe");
  for (const char* part : {"recompute: selective, rerunning layernorm, mla_up_proj, moe_act", "Linear inputs kept for the backward in FP8",
                           "multi-token prediction: 1 module(s) after the decoder on the last pipeline stage"}) {
    EXPECT_NE(deepseek.find(part), std::string::npos) << "missing '" << part << "' in: " << deepseek;
  }
  const std::string llama = notes("llama3.1-70b-1024xh100");
  EXPECT_NE(llama.find("recompute: selective, rerunning core_attn in the backward"), std::string::npos) << llama;
  EXPECT_EQ(llama.find("multi-token prediction"), std::string::npos) << llama;
}

TEST(RunReport, FasterNicsSayWhatCapsThem) {
  // An 800 Gb/s NIC on the Quantum-2 fabric of the 70B scenario runs at the 400 Gb/s switch port, and on
  // the tutorial's Quantum-X800 fabric it is above what NCCL's graph search drives per channel on Hopper
  // (48 GB/s): both runs say so, the stock 400 Gb/s runs say neither.
  const auto notes = [](const std::string& scenario, const char* set) {
    const std::string path = (kRoot / "scenarios" / (scenario + ".yaml")).string();
    std::vector<const char*> argv{"mfusim", "run", path.c_str(), "--json", "-", "--quiet"};
    if (set != nullptr) {
      argv.push_back("--set");
      argv.push_back(set);
    }
    std::ostringstream out, err;
    EXPECT_EQ(mfusim::cli::run_cli(static_cast<int>(argv.size()), argv.data(), out, err), 0) << err.str();
    const auto j = nlohmann::json::parse(out.str());
    std::string all;
    for (const auto& n : j["notes"]) all += n.get<std::string>() + "\n";
    return all;
  };
  const char* fast = "cluster.scale_out.nic_bandwidth=800Gbps";
  const std::string capped = notes("llama3.1-70b-1024xh100", fast);
  EXPECT_NE(capped.find("is above the switch port's 400 Gb/s (Quantum-2-QM9700)"), std::string::npos) << capped;
  EXPECT_EQ(capped.find("graph search"), std::string::npos) << "capped at 50 GB/s, the NCCL table fits: " << capped;
  const std::string xdr = notes("tutorial-interconnect-70b-1024xh100", fast);
  EXPECT_NE(xdr.find("at most 48 GB/s per NIC channel on Hopper GPUs"), std::string::npos) << xdr;
  EXPECT_EQ(xdr.find("switch port"), std::string::npos) << xdr;
  for (const char* stock : {"llama3.1-70b-1024xh100", "tutorial-interconnect-70b-1024xh100"}) {
    const std::string n = notes(stock, nullptr);
    EXPECT_EQ(n.find("cluster:"), std::string::npos) << stock << ": " << n;
    EXPECT_EQ(n.find("graph search"), std::string::npos) << stock << ": " << n;
  }
}

TEST(RunReport, MoeRunsSayWhatEachDispatchMoves) {
  // The `EP dispatch` note: Megatron-Core's all-to-all on the Mixtral scenario; on DeepSeek-V3 DeepEP
  // over its EP 64 = 8 nodes x 8 GPUs with the expected nodes and GPUs per token (deepep_fanout: 3.63
  // and 7.36 under node-limited routing to 4 nodes), FP8 toward the experts, and the overlapped pairs.
  const auto note = [](const std::string& scenario) {
    const auto j = nlohmann::json::parse(run_to_json(scenario));
    for (const auto& n : j["notes"]) {
      if (n.get<std::string>().starts_with("EP dispatch")) return n.get<std::string>();
    }
    return std::string();
  };
  const std::string mixtral = note("mixtral-8x7b-ep");
  EXPECT_NE(mixtral.find("Megatron-Core's all-to-all, each of a token's 2 routed copies"), std::string::npos) << mixtral;
  const std::string deepseek = note("deepseek-v3-moe");
  for (const char* part : {"DeepEP over 8 nodes x 8 GPUs", "3.63 expert nodes", "7.36 expert GPUs", "at most 4 nodes per token",
                           "FP8 toward the experts", "overlapped forward/backward pairs"}) {
    EXPECT_NE(deepseek.find(part), std::string::npos) << "missing '" << part << "' in: " << deepseek;
  }
}

}  // namespace
