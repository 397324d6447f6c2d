#include "report/svg_chart.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/error.hpp"

namespace mfusim::report {
namespace {

// Colours: Tableau 10 (Tableau's default categorical palette, designed to stay distinguishable).
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
constexpr int kMarkerShapes = 4;  // circle, square, triangle, diamond

constexpr double kWidth = 860;
constexpr double kPlotHeight = 340;
constexpr double kTop = 64;         // title above
constexpr double kLeft = 92;        // y tick labels and the y label
constexpr double kCharWidth = 7.2;  // 0.6 em at 12 px
constexpr double kFootnoteLine = 16;

// Fixed-point text with at most `decimals` decimals, trailing zeros dropped ("12.5", "3", "-0.25").
std::string num(double v, int decimals = 2) {
  if (std::fabs(v) < 0.5 * std::pow(10.0, -decimals)) v = 0.0;
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  if (ec != std::errc()) throw core::InternalError("svg_chart: cannot format a number");
  std::string s(buf, end);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

double text_width(const std::string& s, double font_px = 12) {
  return static_cast<double>(s.size()) * kCharWidth * font_px / 12.0;
}

struct Scale {
  double d0, d1;  // domain
  double r0, r1;  // range (pixels)
  double operator()(double v) const { return d1 == d0 ? 0.5 * (r0 + r1) : r0 + (v - d0) / (d1 - d0) * (r1 - r0); }
};

std::string marker(int shape, double x, double y, const char* colour) {
  const std::string fill = std::string(" fill=\"") + colour + "\" stroke=\"white\" stroke-width=\"1\"/>";
  switch (shape % kMarkerShapes) {
    case 0:
      return "<circle cx=\"" + num(x) + "\" cy=\"" + num(y) + "\" r=\"4.5\"" + fill;
    case 1:
      return "<rect x=\"" + num(x - 4) + "\" y=\"" + num(y - 4) + "\" width=\"8\" height=\"8\"" + fill;
    case 2:
      return "<polygon points=\"" + num(x) + "," + num(y - 5.5) + " " + num(x + 5) + "," + num(y + 4) + " " +
             num(x - 5) + "," + num(y + 4) + "\"" + fill;
    default:
      return "<polygon points=\"" + num(x) + "," + num(y - 5.5) + " " + num(x + 5) + "," + num(y) + " " + num(x) + "," +
             num(y + 5.5) + " " + num(x - 5) + "," + num(y) + "\"" + fill;
  }
}

// Splits `text` at spaces into lines of at most `width` characters (a longer word stays whole).
std::vector<std::string> wrap(const std::string& text, std::size_t width) {
  std::vector<std::string> lines;
  std::string cur;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto sp = text.find(' ', start);
    if (sp == std::string::npos) sp = text.size();
    const std::string word = text.substr(start, sp - start);
    if (!cur.empty() && cur.size() + 1 + word.size() > width) {
      lines.push_back(cur);
      cur = word;
    } else {
      cur += (cur.empty() ? "" : " ") + word;
    }
    start = sp + 1;
  }
  if (!cur.empty()) lines.push_back(cur);
  return lines;
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) throw core::InternalError("nice_ticks: non-finite range");
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    const double pad = lo == 0.0 ? 1.0 : 0.1 * std::fabs(lo);
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag;
  const double step = (r < 1.5 ? 1.0 : r < 3.0 ? 2.0 : r < 7.0 ? 5.0 : 10.0) * mag;  // Heckbert's rounding
  // Tick k is k * step, computed from the integer k (no accumulated rounding); the small tolerance keeps
  // a bound that is a multiple of the step (0.3 / 0.1 = 2.9999999999999996) from adding a tick.
  const double eps = 1e-9;
  const auto k0 = static_cast<long long>(std::floor(lo / step + eps));
  const auto k1 = static_cast<long long>(std::ceil(hi / step - eps));
  std::vector<double> ticks;
  for (long long k = k0; k <= k1; ++k) ticks.push_back(static_cast<double>(k) * step);
  return ticks;
}

std::vector<std::string> tick_labels(const std::vector<double>& ticks) {
  std::vector<std::string> out;
  if (ticks.empty()) return out;
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1.0;
  double largest = 0.0;
  for (double t : ticks) largest = std::max(largest, std::fabs(t));
  static constexpr struct {
    double factor;
    const char* suffix;
  } kSi[] = {{1e18, "E"}, {1e15, "P"}, {1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
  double factor = 1.0;
  const char* suffix = "";
  if (largest >= 1e4) {
    for (const auto& s : kSi) {
      if (largest >= s.factor) {
        factor = s.factor;
        suffix = s.suffix;
        break;
      }
    }
  }
  const double scaled_step = step / factor;
  const int decimals = std::clamp(static_cast<int>(std::ceil(-std::log10(scaled_step) - 1e-9)), 0, 12);
  for (double t : ticks) out.push_back(t == 0.0 ? std::string("0") : num(t / factor, decimals) + suffix);
  return out;
}

std::string render_svg(const LineChart& c) {
  // Data ranges.
  const bool categorical = !c.x_categories.empty();
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const auto& s : c.series) {
    for (const auto& p : s.points) {
      xmin = std::min(xmin, p.x);
      xmax = std::max(xmax, p.x);
      if (p.y && std::isfinite(*p.y)) {
        ymin = std::min(ymin, *p.y);
        ymax = std::max(ymax, *p.y);
      }
    }
  }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1;
  if (!std::isfinite(ymin)) ymin = 0, ymax = 1;
  if (c.include_zero) {
    ymin = std::min(ymin, 0.0), ymax = std::max(ymax, 0.0);
    if (!categorical) xmin = std::min(xmin, 0.0), xmax = std::max(xmax, 0.0);
  }
  const std::vector<double> yt = nice_ticks(ymin, ymax);
  const std::vector<std::string> yl = tick_labels(yt);
  std::vector<double> xt;
  std::vector<std::string> xl;
  if (categorical) {
    for (std::size_t i = 0; i < c.x_categories.size(); ++i) xt.push_back(static_cast<double>(i));
    xl = c.x_categories;
  } else {
    xt = nice_ticks(xmin, xmax);
    xl = tick_labels(xt);
  }

  // Layout: legend on the right, sized to its longest label; footnotes under the x label.
  double legend_w = text_width(c.legend_title) * 1.12 + 24;  // bold title: ~12% wider glyphs
  for (const auto& s : c.series) legend_w = std::max(legend_w, 52 + text_width(s.label));
  legend_w = std::clamp(legend_w, 110.0, 300.0);
  double ylabel_w = 0;
  for (const auto& l : yl) ylabel_w = std::max(ylabel_w, text_width(l));
  const double left = std::max(kLeft, ylabel_w + 48);
  const double right = kWidth - legend_w - 36;
  const double plot_w = right - left;
  double xlabel_w = 0;
  for (const auto& l : xl) xlabel_w = std::max(xlabel_w, text_width(l));
  const double slot = xt.size() > 1 ? plot_w / static_cast<double>(xt.size()) : plot_w;
  const bool rotate = xlabel_w + 8 > slot;  // long category labels: slant them
  const double xtick_h = rotate ? std::min(xlabel_w, 140.0) * 0.6 + 18 : 18;
  const double top = kTop;
  const double bottom = top + kPlotHeight;
  std::vector<std::string> footnotes;
  const auto footnote_chars = static_cast<std::size_t>((kWidth - 24) / (kCharWidth * 11 / 12));
  for (const auto& f : c.footnotes) {
    for (auto& l : wrap(f, footnote_chars)) footnotes.push_back(std::move(l));
  }
  const double height = bottom + xtick_h + 40 + kFootnoteLine * static_cast<double>(footnotes.size()) + 10;

  const Scale ys{yt.front(), yt.back(), bottom, top};
  Scale xs{};
  if (categorical) {
    const double n = static_cast<double>(c.x_categories.size());
    const double band = plot_w / n;
    xs = Scale{0, n - 1, left + 0.5 * band, right - 0.5 * band};
    if (c.x_categories.size() == 1) xs = Scale{0, 0, left, right};
  } else {
    xs = Scale{xt.front(), xt.back(), left, right};
  }

  std::string o;
  o += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth) + "\" height=\"" + num(height) +
       "\" viewBox=\"0 0 " + num(kWidth) + " " + num(height) +
       "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
  o += "<title>" + xml_escape(c.title) + "</title>\n";
  o += "<rect width=\"" + num(kWidth) + "\" height=\"" + num(height) + "\" fill=\"white\"/>\n";
  o += "<text class=\"title\" x=\"" + num(0.5 * (left + right)) +
       "\" y=\"30\" text-anchor=\"middle\" font-size=\"15\" "
       "font-weight=\"bold\">" +
       xml_escape(c.title) + "</text>\n";

  // Grid and ticks.
  o += "<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
  for (double t : yt)
    o += "<line x1=\"" + num(left) + "\" y1=\"" + num(ys(t)) + "\" x2=\"" + num(right) + "\" y2=\"" + num(ys(t)) +
         "\"/>\n";
  for (double t : xt)
    o += "<line x1=\"" + num(xs(t)) + "\" y1=\"" + num(top) + "\" x2=\"" + num(xs(t)) + "\" y2=\"" + num(bottom) +
         "\"/>\n";
  o += "</g>\n";
  o += "<g class=\"axes\" stroke=\"#333333\" stroke-width=\"1.2\">\n";
  o += "<line x1=\"" + num(left) + "\" y1=\"" + num(bottom) + "\" x2=\"" + num(right) + "\" y2=\"" + num(bottom) +
       "\"/>\n";
  o += "<line x1=\"" + num(left) + "\" y1=\"" + num(top) + "\" x2=\"" + num(left) + "\" y2=\"" + num(bottom) + "\"/>\n";
  for (double t : yt)
    o += "<line x1=\"" + num(left - 5) + "\" y1=\"" + num(ys(t)) + "\" x2=\"" + num(left) + "\" y2=\"" + num(ys(t)) +
         "\"/>\n";
  for (double t : xt)
    o += "<line x1=\"" + num(xs(t)) + "\" y1=\"" + num(bottom) + "\" x2=\"" + num(xs(t)) + "\" y2=\"" +
         num(bottom + 5) + "\"/>\n";
  o += "</g>\n";
  o += "<g class=\"y-ticks\" text-anchor=\"end\" fill=\"#333333\">\n";
  for (std::size_t i = 0; i < yt.size(); ++i) {
    o += "<text x=\"" + num(left - 8) + "\" y=\"" + num(ys(yt[i]) + 4) + "\">" + xml_escape(yl[i]) + "</text>\n";
  }
  o += "</g>\n";
  o += std::string("<g class=\"x-ticks\" text-anchor=\"") + (rotate ? "end" : "middle") + "\" fill=\"#333333\">\n";
  for (std::size_t i = 0; i < xt.size(); ++i) {
    const double x = xs(xt[i]);
    const double y = bottom + 19;
    if (rotate) {
      o += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" transform=\"rotate(-35 " + num(x) + " " + num(y) + ")\">" +
           xml_escape(xl[i]) + "</text>\n";
    } else {
      o += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\">" + xml_escape(xl[i]) + "</text>\n";
    }
  }
  o += "</g>\n";
  const double xlabel_y = bottom + xtick_h + 22;
  o += "<text class=\"x-label\" x=\"" + num(0.5 * (left + right)) + "\" y=\"" + num(xlabel_y) +
       "\" text-anchor=\"middle\" font-size=\"13\">" + xml_escape(c.x_label) + "</text>\n";
  const double ylabel_x = left - ylabel_w - 24;
  const double ylabel_y = 0.5 * (top + bottom);
  o += "<text class=\"y-label\" x=\"" + num(ylabel_x) + "\" y=\"" + num(ylabel_y) +
       "\" text-anchor=\"middle\" font-size=\"13\" "
       "transform=\"rotate(-90 " +
       num(ylabel_x) + " " + num(ylabel_y) + ")\">" + xml_escape(c.y_label) + "</text>\n";

  // Series: lines under markers.
  for (std::size_t si = 0; si < c.series.size(); ++si) {
    const auto& s = c.series[si];
    const char* colour = kPalette[si % std::size(kPalette)];
    std::vector<ChartPoint> pts = s.points;
    std::stable_sort(pts.begin(), pts.end(), [](const ChartPoint& a, const ChartPoint& b) { return a.x < b.x; });
    o += "<g class=\"series\" data-label=\"" + xml_escape(s.label) + "\">\n";
    std::string line;
    std::size_t in_line = 0;
    auto flush = [&] {
      if (in_line >= 2) {
        o += "<polyline fill=\"none\" stroke=\"" + std::string(colour) + "\" stroke-width=\"2\" points=\"" + line +
             "\"/>\n";
      }
      line.clear();
      in_line = 0;
    };
    for (const auto& p : pts) {
      if (!p.y || !std::isfinite(*p.y)) {
        flush();
        continue;
      }
      if (!line.empty()) line += ' ';
      line += num(xs(p.x)) + "," + num(ys(*p.y));
      ++in_line;
    }
    flush();
    for (const auto& p : pts) {
      if (p.y && std::isfinite(*p.y)) o += marker(static_cast<int>(si), xs(p.x), ys(*p.y), colour) + "\n";
    }
    o += "</g>\n";
  }

  // Legend.
  const double lx = right + 24;
  double ly = top;
  const double legend_h = 30 + 20 * static_cast<double>(c.series.size());
  o += "<g class=\"legend\">\n";
  o += "<rect x=\"" + num(lx) + "\" y=\"" + num(ly) + "\" width=\"" + num(legend_w) + "\" height=\"" + num(legend_h) +
       "\" fill=\"white\" stroke=\"#bbbbbb\"/>\n";
  o += "<text x=\"" + num(lx + 8) + "\" y=\"" + num(ly + 18) + "\" font-weight=\"bold\">" + xml_escape(c.legend_title) +
       "</text>\n";
  ly += 38;
  for (std::size_t si = 0; si < c.series.size(); ++si) {
    const char* colour = kPalette[si % std::size(kPalette)];
    o += "<line x1=\"" + num(lx + 8) + "\" y1=\"" + num(ly - 4) + "\" x2=\"" + num(lx + 36) + "\" y2=\"" + num(ly - 4) +
         "\" stroke=\"" + colour + "\" stroke-width=\"2\"/>\n";
    o += marker(static_cast<int>(si), lx + 22, ly - 4, colour) + "\n";
    o += "<text x=\"" + num(lx + 44) + "\" y=\"" + num(ly) + "\">" + xml_escape(c.series[si].label) + "</text>\n";
    ly += 20;
  }
  o += "</g>\n";

  double fy = xlabel_y + 24;
  for (const auto& f : footnotes) {
    o += "<text class=\"footnote\" x=\"12\" y=\"" + num(fy) + "\" font-size=\"11\" fill=\"#555555\">" + xml_escape(f) +
         "</text>\n";
    fy += kFootnoteLine;
  }
  o += "</svg>\n";
  return o;
}

}  // namespace mfusim::report
