// `mfusim run --trace` labels and `--timeline` pictures of shipped scenarios, through the real CLI:
// every forward and backward of every micro-batch on every stage is in the trace with its layers and
// micro-batch, collectives carry their bytes, group and algorithm, and each SVG is well-formed XML
// with its title, both axis labels and a legend, byte-identical from run to run.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "cli/app.hpp"
#include "unit/report/xml_check.hpp"

namespace {

const std::filesystem::path kRoot = MFUSIM_SOURCE_DIR;


// Runs `mfusim run scenarios/NAME.yaml FLAG FILE` and returns the file's contents.
std::string run_writing(const std::string& scenario, const std::string& flag, const std::string& file) {
  const std::string path = (kRoot / "scenarios" / (scenario + ".yaml")).string();
  // One file per scenario and output: ctest may run these tests in parallel.
  const std::string out_path = (std::filesystem::temp_directory_path() / ("mfusim-timeline-test-" + scenario + "-" + file)).string();
  const char* argv[] = {"mfusim", "run", path.c_str(), flag.c_str(), out_path.c_str(), "--quiet"};
  std::ostringstream out, err;
  const int code = mfusim::cli::run_cli(6, argv, out, err);
  EXPECT_EQ(code, 0) << err.str();
  std::ifstream f(out_path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  std::filesystem::remove(out_path);
  return s.str();
}

TEST(Timeline, TraceLabelsEveryPassOfEveryMicroBatch) {
  // llama3.1-8b-pp4-timeline: PP 4 (1F1B) x DP 4, 32 layers (8 per stage), 8 micro-batches, simulated
  // ranks 0, 4, 8, 12 (TP 1: one GPU per stage of DP replica 0).
  const auto trace = nlohmann::json::parse(run_writing("llama3.1-8b-pp4-timeline", "--trace", "trace.json"));
  std::map<std::tuple<int, int, std::string>, std::set<int>> layers;  // (stage, micro-batch, pass) -> layers
  int collectives = 0;
  for (const auto& e : trace["traceEvents"]) {
    if (e["ph"] != "X") continue;
    ASSERT_TRUE(e.contains("cat") && e.contains("args")) << e.dump();
    const auto& a = e["args"];
    ASSERT_TRUE(a.contains("op") && a.contains("rank") && a.contains("stage")) << e.dump();
    const std::string cat = e["cat"];
    if ((cat == "forward" || cat == "backward") && a.contains("layer")) {
      ASSERT_TRUE(a.contains("microbatch") && a.contains("pass")) << e.dump();
      layers[{a["stage"].get<int>(), a["microbatch"].get<int>(), a["pass"].get<std::string>()}].insert(a["layer"].get<int>());
    }
    if (cat.rfind("comm-", 0) == 0) {
      ++collectives;
      EXPECT_TRUE(a.contains("collective")) << e.dump();
      EXPECT_GT(a.value("bytes", std::int64_t{0}), 0) << e.dump();
      EXPECT_TRUE(a.contains("group") && a.value("group_size", 0) >= 2) << e.dump();
      EXPECT_FALSE(a.value("algorithm", std::string()).empty()) << "NCCL's algorithm/protocol: " << e.dump();
      if (cat == "comm-pp" && a["collective"] == "send-recv") {
        EXPECT_TRUE(a.contains("microbatch") && a.contains("peer")) << e.dump();
      }
    }
  }
  EXPECT_GT(collectives, 0);
  for (int stage = 0; stage < 4; ++stage) {
    std::set<int> own;
    for (int l = 8 * stage; l < 8 * stage + 8; ++l) own.insert(l);
    for (int mb = 0; mb < 8; ++mb) {
      for (const char* pass : {"fwd", "bwd"}) {
        EXPECT_EQ((layers[{stage, mb, pass}]), own) << "stage " << stage << ", micro-batch " << mb << ", " << pass;
      }
    }
  }
}

class TimelineSvg : public testing::TestWithParam<std::string> {};

TEST_P(TimelineSvg, IsWellFormedWithTitleAxesAndLegend) {
  const std::string svg = run_writing(GetParam(), "--timeline", "timeline.svg");
  EXPECT_EQ(mfusim::test::xml_problem(svg), "");
  const auto title = svg.find("<text id=\"title\"");
  ASSERT_NE(title, std::string::npos);
  EXPECT_NE(svg.find(GetParam() + ": one", title), std::string::npos) << "the title names the scenario";
  EXPECT_NE(svg.find("id=\"x-axis-label\""), std::string::npos);
  EXPECT_NE(svg.find(">time (ms)</text>"), std::string::npos);
  EXPECT_NE(svg.find("id=\"y-axis-label\""), std::string::npos);
  const auto legend = svg.find("<g id=\"legend\"");
  ASSERT_NE(legend, std::string::npos);
  for (const char* entry : {">forward</text>", ">backward</text>", ">PP send/recv</text>", ">bubble (compute idle)</text>"}) {
    EXPECT_NE(svg.find(entry, legend), std::string::npos) << "legend entry " << entry;
  }
  EXPECT_NE(svg.find("bubble (idle)"), std::string::npos) << "a pipeline step has bubbles";
  EXPECT_EQ(svg, run_writing(GetParam(), "--timeline", "timeline2.svg")) << "deterministic bytes";
}

INSTANTIATE_TEST_SUITE_P(Scenarios, TimelineSvg, testing::Values("pipeline-exercise", "llama3.1-8b-pp4-timeline"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

}  // namespace
