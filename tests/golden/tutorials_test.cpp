// The charts committed under docs/tutorials/: every SVG is well-formed XML with a title, both axis
// labels and a legend (charts from `sweep --plot` / `compare --plot`, and `run --timeline` pictures),
// each tutorial has its charts, and the purchase chart (cheap: four analytical runs) regenerates
// byte for byte from the command that docs/tutorials/b-purchase.md and scripts/tutorials print.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.hpp"
#include "unit/report/xml_check.hpp"

namespace {

namespace fs = std::filesystem;
const fs::path kRoot = MFUSIM_SOURCE_DIR;

std::string read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::vector<fs::path> tutorial_svgs() {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(kRoot / "docs/tutorials")) {
    if (e.is_regular_file() && e.path().extension() == ".svg") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The text of the first element whose class or id is `name` (charts use class="x-label", timelines
// id="x-axis-label"), or "" when there is none.
std::string labelled_text(const std::string& svg, const std::string& names) {
  const std::regex re("<text[^>]*(?:class|id)=\"(?:" + names + ")\"[^>]*>([^<]*)</text>");
  std::smatch m;
  return std::regex_search(svg, m, re) ? m[1].str() : "";
}

TEST(Tutorials, EveryChartParsesAndHasTitleAxisLabelsAndLegend) {
  const auto svgs = tutorial_svgs();
  // a: analytical + rail flow + fat-tree flow; b: purchase; c: 3 timelines + zoom + summary.
  EXPECT_GE(svgs.size(), 9U) << "charts missing from docs/tutorials/charts (run scripts/tutorials)";
  for (const char* prefix : {"a-", "b-", "c-"}) {
    EXPECT_TRUE(std::any_of(svgs.begin(), svgs.end(),
                            [&](const fs::path& p) { return p.filename().string().starts_with(prefix); }))
        << "no chart for tutorial " << prefix;
  }
  for (const auto& p : svgs) {
    SCOPED_TRACE(p.string());
    const auto svg = read(p);
    EXPECT_EQ(mfusim::test::xml_problem(svg), "") << "not well-formed XML";
    std::smatch title;
    ASSERT_TRUE(std::regex_search(svg, title, std::regex("<title>([^<]+)</title>"))) << "no <title>";
    EXPECT_GT(title[1].length(), 10) << "title too short: " << title[1];
    EXPECT_NE(labelled_text(svg, "x-label|x-axis-label"), "") << "no x axis label";
    EXPECT_NE(labelled_text(svg, "y-label|y-axis-label"), "") << "no y axis label";
    std::smatch legend;
    ASSERT_TRUE(std::regex_search(svg, legend, std::regex("<g (?:class|id)=\"legend\"[^>]*>([\\s\\S]*?)</g>")))
        << "no legend";
    const std::string body = legend[1].str();
    std::size_t entries = 0;
    for (auto at = body.find("<text"); at != std::string::npos; at = body.find("<text", at + 1)) ++entries;
    EXPECT_GE(entries, 2U) << "a legend has a heading and at least one entry";
  }
}

TEST(Tutorials, EveryChartHasItsScreenshot) {
  for (const auto& p : tutorial_svgs()) {
    const auto png = kRoot / "docs/tutorials/img" / p.filename().replace_extension(".png");
    EXPECT_TRUE(fs::exists(png)) << png << " missing: run scripts/tutorials (needs chromium)";
    if (fs::exists(png)) {
      EXPECT_LT(fs::file_size(png), 300U * 1024U) << png << " larger than 300 KB";
    }
  }
}

TEST(Tutorials, PurchaseChartRegeneratesByteForByte) {
  // The command of docs/tutorials/b-purchase.md (the chart names scenarios, not their paths).
  const auto svg = (fs::temp_directory_path() / "mfusim-tutorial-b-purchase.svg").string();
  std::vector<std::string> args{"mfusim", "compare"};
  for (const char* g : {"h100", "h200", "b200", "gb200-nvl72"}) {
    args.push_back((kRoot / "scenarios" / (std::string("tutorial-purchase-405b-") + g + ".yaml")).string());
  }
  for (const char* a : {"--quiet", "--plot"}) args.emplace_back(a);
  args.push_back(svg);
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int code = mfusim::cli::run_cli(static_cast<int>(argv.size()), argv.data(), out, err);
  ASSERT_EQ(code, 0) << err.str();
  EXPECT_EQ(read(svg), read(kRoot / "docs/tutorials/charts/b-purchase.svg"))
      << "docs/tutorials/charts/b-purchase.svg is stale: the simulator's figures changed; run scripts/tutorials b "
         "and update the numbers quoted in docs/tutorials/b-purchase.md";
  fs::remove(svg);
}

}  // namespace
