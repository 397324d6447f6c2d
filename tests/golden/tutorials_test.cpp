// The charts committed under docs/tutorials/: every SVG is well-formed XML with a title, both axis
// labels and a legend (charts from `sweep --plot` / `compare --plot`, and `run --timeline` pictures),
// each tutorial has its charts, and the purchase chart (cheap: four analytical runs) regenerates
// byte for byte from the command that docs/tutorials/b-purchase.md and scripts/tutorials print.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <initializer_list>
#include <optional>
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

// The text of the first <text> element whose class or id is one of `names` (charts use
// class="x-label", timelines id="x-axis-label"), or "" when there is none. Plain string search: GCC 12's
// <regex> trips -Wmaybe-uninitialized under the sanitizer build.
std::string labelled_text(const std::string& svg, std::initializer_list<const char*> names) {
  for (auto at = svg.find("<text"); at != std::string::npos; at = svg.find("<text", at + 1)) {
    const auto close = svg.find('>', at);
    if (close == std::string::npos) return "";
    const std::string tag = svg.substr(at, close - at);
    for (const char* n : names) {
      if (tag.find("class=\"" + std::string(n) + "\"") == std::string::npos &&
          tag.find("id=\"" + std::string(n) + "\"") == std::string::npos) {
        continue;
      }
      const auto end = svg.find("</text>", close);
      return end == std::string::npos ? "" : svg.substr(close + 1, end - close - 1);
    }
  }
  return "";
}

// The content between `open` (a tag prefix, completed by its '>') and the first `close` after it.
std::optional<std::string> between(const std::string& s, const std::string& open, const std::string& close) {
  const auto at = s.find(open);
  if (at == std::string::npos) return std::nullopt;
  const auto start = s.find('>', at);
  if (start == std::string::npos) return std::nullopt;
  const auto end = s.find(close, start);
  if (end == std::string::npos) return std::nullopt;
  return s.substr(start + 1, end - start - 1);
}

TEST(Tutorials, EveryChartParsesAndHasTitleAxisLabelsAndLegend) {
  const auto svgs = tutorial_svgs();
  // a: analytical + rail flow + fat-tree flow; b: purchase; c: 3 timelines + zoom + summary; d: the
  // dispatch x overlap sweep + 2 timelines.
  EXPECT_GE(svgs.size(), 12U) << "charts missing from docs/tutorials/charts (run scripts/tutorials)";
  for (const char* prefix : {"a-", "b-", "c-", "d-"}) {
    EXPECT_TRUE(std::any_of(svgs.begin(), svgs.end(),
                            [&](const fs::path& p) { return p.filename().string().starts_with(prefix); }))
        << "no chart for tutorial " << prefix;
  }
  for (const auto& p : svgs) {
    SCOPED_TRACE(p.string());
    const auto svg = read(p);
    EXPECT_EQ(mfusim::test::xml_problem(svg), "") << "not well-formed XML";
    const auto title = between(svg, "<title", "</title>");
    ASSERT_TRUE(title.has_value()) << "no <title>";
    EXPECT_GT(title->size(), 10U) << "title too short: " << *title;
    EXPECT_NE(labelled_text(svg, {"x-label", "x-axis-label"}), "") << "no x axis label";
    EXPECT_NE(labelled_text(svg, {"y-label", "y-axis-label"}), "") << "no y axis label";
    auto legend = between(svg, "<g class=\"legend\"", "</g>");
    if (!legend) legend = between(svg, "<g id=\"legend\"", "</g>");
    ASSERT_TRUE(legend.has_value()) << "no legend";
    const std::string body = *legend;
    std::size_t entries = 0;
    for (auto at = body.find("<text"); at != std::string::npos; at = body.find("<text", at + 1)) ++entries;
    EXPECT_GE(entries, 2U) << "a legend has a heading and at least one entry";
  }
}

TEST(Tutorials, EveryImageTheTutorialsShowIsAChartThatExists) {
  // The tutorials show the SVG charts the commands write (no screenshots that could fall behind them).
  std::size_t images = 0;
  for (const auto& md : fs::directory_iterator(kRoot / "docs/tutorials")) {
    if (md.path().extension() != ".md") continue;
    const std::string text = read(md.path());
    for (auto at = text.find("]("); at != std::string::npos; at = text.find("](", at + 2)) {
      if (at == 0 || text.rfind("![", at) == std::string::npos || text.rfind("![", at) < text.rfind('\n', at)) continue;
      const auto end = text.find(')', at);
      const std::string target = text.substr(at + 2, end - at - 2);
      ++images;
      EXPECT_EQ(target.rfind("charts/", 0), 0U) << md.path().filename() << ": image " << target << " is not a chart";
      EXPECT_TRUE(fs::exists(kRoot / "docs/tutorials" / target)) << md.path().filename() << ": " << target << " missing";
    }
  }
  EXPECT_GE(images, 12U) << "the four tutorials show twelve charts";
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
