#pragma once
// A line chart as a standalone SVG document (sweep results: `mfusim sweep --plot FILE.svg`).
//
// One polyline per series with a marker at every point (shape and colour both vary by series, so the
// chart reads in grey too), a legend, a title (also the SVG <title>), axis labels and "nice" ticks:
// steps of 1, 2 or 5 x 10^k chosen so that about five intervals cover the data (the classic
// Heckbert "nice numbers for graph labels", Graphics Gems, 1990). x is numeric, or categorical (evenly
// spaced labels) when the caller gives category names. A point without a y value (an infeasible sweep
// point) draws no marker and breaks its series' line there; the caller says why in a footnote.
//
// The output is deterministic: coordinates are printed with std::to_chars (no locale), elements in the
// order given. Text is XML-escaped. Fonts are generic (sans-serif); widths of text are estimated at
// 0.6 em per character to size the legend and margins.
#include <optional>
#include <string>
#include <vector>

namespace mfusim::report {

struct ChartPoint {
  double x = 0.0;           // numeric x, or the category index when LineChart::x_categories is set
  std::optional<double> y;  // absent: no value at this x (gap in the line)
};

struct ChartSeries {
  std::string label;
  std::vector<ChartPoint> points;
};

struct LineChart {
  std::string title;
  std::string x_label;                    // with its unit, e.g. "cluster.scale_out.nic_bandwidth (Gbps)"
  std::string y_label;                    // with its unit, e.g. "step time (s)"
  std::vector<std::string> x_categories;  // non-empty: categorical x axis
  std::string legend_title;
  std::vector<ChartSeries> series;
  std::vector<std::string> footnotes;  // one line each, under the plot
  bool include_zero = false;           // numeric axes reach 0 (a scatter of costs, not a zoom on the data)
};

std::string render_svg(const LineChart& chart);

// Tick positions covering [lo, hi]: multiples of a step of 1, 2 or 5 x 10^k, the first at or below lo
// and the last at or above hi. The step is (hi - lo) / target rounded to the nearest nice number
// (below 1.5 -> 1, below 3 -> 2, below 7 -> 5, else 10, times 10^k: Heckbert's rounding), so about
// `target` intervals. lo == hi is widened by 10% (or by 1 around 0).
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// Labels for ticks (as nice_ticks returns them): the decimals the step needs, and k/M/G/T/P/E suffixes
// once the largest tick reaches 10,000 (886000 -> "886k"), so labels stay short.
std::vector<std::string> tick_labels(const std::vector<double>& ticks);

// &, <, >, " and ' as XML entities.
std::string xml_escape(const std::string& text);

}  // namespace mfusim::report
