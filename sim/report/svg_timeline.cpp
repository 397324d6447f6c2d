#include "report/svg_timeline.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <utility>

#include "core/error.hpp"

namespace mfusim::report {
namespace {

using Interval = std::pair<std::int64_t, std::int64_t>;  // [start, end) in ps
using Intervals = std::vector<Interval>;

// Layout, in SVG pixels.
constexpr double kWidth = 1400;
constexpr double kLeft = 200;  // row labels
constexpr double kRight = 24;
constexpr double kTop = 66;    // title and subtitle
constexpr double kComputeRow = 24;
constexpr double kCommRow = 12;
constexpr double kRowGap = 2;
constexpr double kGroupGap = 10;
constexpr double kLegendEntry = 215;
constexpr double kExposedBar = 4;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string ms(std::int64_t ps) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ps) * 1e-9);
  return buf;
}

// Sorted, disjoint union; intervals closer than `tolerance` are joined.
Intervals unite(Intervals v, std::int64_t tolerance = 0) {
  std::sort(v.begin(), v.end());
  Intervals out;
  for (const auto& [a, b] : v) {
    if (b <= a) continue;
    if (!out.empty() && a <= out.back().second + tolerance) {
      out.back().second = std::max(out.back().second, b);
    } else {
      out.emplace_back(a, b);
    }
  }
  return out;
}

// a \ b, both sorted and disjoint.
Intervals subtract(const Intervals& a, const Intervals& b) {
  Intervals out;
  std::size_t j = 0;
  for (auto [s, e] : a) {
    while (j < b.size() && b[j].second <= s) ++j;
    for (std::size_t k = j; k < b.size() && b[k].first < e; ++k) {
      if (b[k].first > s) out.emplace_back(s, b[k].first);
      s = std::max(s, b[k].second);
      if (s >= e) break;
    }
    if (s < e) out.emplace_back(s, e);
  }
  return out;
}

// White text on dark fills, black on light ones (relative luminance of an "#rrggbb" color).
const char* text_color(const std::string& color) {
  if (color.size() != 7 || color[0] != '#') return "#000";
  const auto channel = [&](std::size_t i) { return std::stoi(color.substr(i, 2), nullptr, 16) / 255.0; };
  const double lum = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
  return lum < 0.5 ? "#fff" : "#000";
}

// Ticks of 1, 2 or 5 x 10^k ms, about ten over the axis.
double tick_step(double range_ms) {
  if (range_ms <= 0) return 1;
  const double raw = range_ms / 10;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double f : {1.0, 2.0, 5.0, 10.0}) {
    if (f * mag >= raw) return f * mag;
  }
  return 10 * mag;
}

struct Rect {
  std::uint32_t row;
  std::uint32_t style;
  std::int64_t start, end;
  std::string text;
  std::string tooltip;
  std::uint64_t key;
};

}  // namespace

std::string timeline_svg(const Timeline& t) {
  const std::int64_t end_ps = std::max<std::int64_t>(t.end_ps, 1);
  const double plot_w = kWidth - kLeft - kRight;
  const double ps_per_px = static_cast<double>(end_ps) / plot_w;
  const auto x_of = [&](std::int64_t ps) { return kLeft + static_cast<double>(ps) / ps_per_px; };
  const auto half_px = static_cast<std::int64_t>(ps_per_px / 2);

  // Row positions.
  std::vector<double> row_y(t.rows.size()), row_h(t.rows.size());
  double y = kTop;
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    if (r > 0) y += t.rows[r].group != t.rows[r - 1].group ? kGroupGap : kRowGap;
    row_y[r] = y;
    row_h[r] = t.rows[r].compute ? kComputeRow : kCommRow;
    y += row_h[r];
  }
  const double plot_bottom = y + 6;

  // Ops per row in time order (input order among equal starts).
  std::vector<std::vector<const TimelineOp*>> by_row(t.rows.size());
  for (const auto& op : t.ops) {
    MFUSIM_CHECK(op.row < t.rows.size() && op.style < t.styles.size(), "timeline op outside its rows or styles");
    by_row[op.row].push_back(&op);
  }
  for (auto& v : by_row) {
    std::stable_sort(v.begin(), v.end(), [](const TimelineOp* a, const TimelineOp* b) { return a->start_ps < b->start_ps; });
  }

  // Bubbles and exposed communication per group, from the exact ops.
  std::map<std::uint32_t, Intervals> busy, comm;
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    for (const TimelineOp* op : by_row[r]) {
      if (t.styles[op->style].communication) {
        comm[t.rows[r].group].emplace_back(op->start_ps, op->end_ps);
      } else if (t.rows[r].compute) {
        busy[t.rows[r].group].emplace_back(op->start_ps, op->end_ps);
      }
    }
  }

  // Rectangles, merged per pass when there are too many.
  std::vector<Rect> rects;
  const bool merge = t.ops.size() > kMaxTimelineRectangles;
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    const auto& v = by_row[r];
    for (std::size_t i = 0; i < v.size();) {
      std::size_t j = i + 1;
      if (merge && v[i]->merge_key != 0) {
        std::int64_t reach = v[i]->end_ps;
        while (j < v.size() && v[j]->merge_key == v[i]->merge_key && v[j]->start_ps - reach < 2 * half_px + 1) {
          reach = std::max(reach, v[j]->end_ps);
          ++j;
        }
      }
      if (j == i + 1) {
        rects.push_back({static_cast<std::uint32_t>(r), v[i]->style, v[i]->start_ps, v[i]->end_ps, v[i]->text, v[i]->tooltip, v[i]->merge_key});
      } else {
        std::vector<std::int64_t> per_style(t.styles.size(), 0);
        std::int64_t end = v[i]->end_ps;
        bool same_text = true;
        for (std::size_t k = i; k < j; ++k) {
          per_style[v[k]->style] += v[k]->end_ps - v[k]->start_ps;
          end = std::max(end, v[k]->end_ps);
          same_text = same_text && v[k]->text == v[i]->text;
        }
        const auto style = static_cast<std::uint32_t>(std::max_element(per_style.begin(), per_style.end()) - per_style.begin());
        std::string tip = v[i]->merge_text + ": " + std::to_string(j - i) + " ops merged, " + ms(v[i]->start_ps) + " to " + ms(end) + " ms";
        for (std::size_t s = 0; s < per_style.size(); ++s) {
          if (per_style[s] > 0) tip += "; " + t.styles[s].name + " " + ms(per_style[s]) + " ms";
        }
        rects.push_back({static_cast<std::uint32_t>(r), style, v[i]->start_ps, end, same_text ? v[i]->text : "", tip, v[i]->merge_key});
      }
      i = j;
    }
  }
  if (rects.size() > kMaxTimelineRectangles) {
    throw core::InputError("timeline: " + std::to_string(rects.size()) + " rectangles even with each pass of a micro-batch drawn as one (limit " +
                           std::to_string(kMaxTimelineRectangles) +
                           "): too many to read; draw fewer ranks (--timeline-ranks) or simulate fewer micro-batches "
                           "(--set training.global_batch=...)");
  }

  // Legend entries: the styles used, then the marks.
  std::vector<bool> used(t.styles.size(), false);
  for (const auto& rc : rects) used[rc.style] = true;
  std::size_t entries = 2;
  for (bool u : used) entries += u ? 1 : 0;
  const auto per_line = static_cast<std::size_t>((kWidth - 2 * 20) / kLegendEntry);
  const std::size_t legend_lines = (entries + per_line - 1) / per_line;
  const double axis_y = plot_bottom;
  const double legend_y = axis_y + 62;
  const double height = legend_y + static_cast<double>(legend_lines) * 20 + 12;

  std::string o;
  o.reserve(512 + rects.size() * 220);
  o += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth) + "\" height=\"" + num(height) + "\" viewBox=\"0 0 " + num(kWidth) +
       " " + num(height) + "\" font-family=\"Helvetica, Arial, sans-serif\">\n";
  o += "<title>" + escape(t.title) + "</title>\n";
  o += "<defs>\n"
       "<pattern id=\"bubble\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
       "<rect width=\"6\" height=\"6\" fill=\"#f2f2f2\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#b0b0b0\" stroke-width=\"2\"/></pattern>\n"
       "<pattern id=\"exposed\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(-45)\">"
       "<rect width=\"6\" height=\"6\" fill=\"#fde0dd\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#d62728\" stroke-width=\"2\"/></pattern>\n"
       "</defs>\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n";
  o += "<text id=\"title\" x=\"" + num(kLeft) + "\" y=\"26\" font-size=\"18\" font-weight=\"bold\">" + escape(t.title) + "</text>\n";
  o += "<text id=\"subtitle\" x=\"" + num(kLeft) + "\" y=\"46\" font-size=\"12\" fill=\"#444\">" + escape(t.subtitle) + "</text>\n";

  // Grid and x axis.
  const double range_ms = static_cast<double>(end_ps) * 1e-9;
  const double step = tick_step(range_ms);
  const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step))));
  o += "<g id=\"x-axis\" font-size=\"11\" text-anchor=\"middle\">\n";
  for (int k = 0;; ++k) {
    const double v = step * k;
    if (v > range_ms * (1 + 1e-9)) break;
    const double x = kLeft + v / range_ms * plot_w;
    char label[32];
    std::snprintf(label, sizeof label, "%.*f", decimals, v);
    o += "<line x1=\"" + num(x) + "\" y1=\"" + num(kTop - 4) + "\" x2=\"" + num(x) + "\" y2=\"" + num(axis_y) +
         "\" stroke=\"#e4e4e4\"/><line x1=\"" + num(x) + "\" y1=\"" + num(axis_y) + "\" x2=\"" + num(x) + "\" y2=\"" + num(axis_y + 5) +
         "\" stroke=\"#333\"/><text x=\"" + num(x) + "\" y=\"" + num(axis_y + 18) + "\">" + label + "</text>\n";
  }
  o += "<line x1=\"" + num(kLeft) + "\" y1=\"" + num(axis_y) + "\" x2=\"" + num(kLeft + plot_w) + "\" y2=\"" + num(axis_y) +
       "\" stroke=\"#333\"/>\n</g>\n";
  o += "<text id=\"x-axis-label\" x=\"" + num(kLeft + plot_w / 2) + "\" y=\"" + num(axis_y + 38) +
       "\" font-size=\"13\" text-anchor=\"middle\">time (ms)</text>\n";
  const double mid_y = (kTop + plot_bottom) / 2;
  o += "<text id=\"y-axis-label\" x=\"16\" y=\"" + num(mid_y) + "\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
       num(mid_y) + ")\">rank / stream</text>\n";

  // Row labels and backgrounds.
  o += "<g id=\"rows\" font-size=\"11\">\n";
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    const double cy = row_y[r] + row_h[r] / 2 + 4;
    o += "<rect x=\"" + num(kLeft) + "\" y=\"" + num(row_y[r]) + "\" width=\"" + num(plot_w) + "\" height=\"" + num(row_h[r]) +
         "\" fill=\"" + (row.compute ? "#fafafa" : "#fdfdfd") + "\" stroke=\"#ececec\"/>\n";
    if (!row.group_label.empty()) {
      o += "<text x=\"24\" y=\"" + num(cy) + "\" font-weight=\"bold\">" + escape(row.group_label) + "</text>\n";
    }
    o += "<text x=\"" + num(kLeft - 6) + "\" y=\"" + num(row.compute ? cy : cy - 1) + "\" text-anchor=\"end\"" +
         (row.compute ? "" : " font-size=\"9\" fill=\"#555\"") + ">" + escape(row.label) + "</text>\n";
  }
  o += "</g>\n";

  // Bubbles and exposed communication on the compute rows.
  std::vector<Intervals> exposed_bars(t.rows.size());
  o += "<g id=\"idle\">\n";
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    if (!t.rows[r].compute) continue;
    const auto g = t.rows[r].group;
    const Intervals b = unite(busy[g]);
    const Intervals c = unite(comm[g]);
    const Intervals idle = subtract({{0, end_ps}}, b);
    const Intervals waiting = subtract(idle, c);  // bubble
    const Intervals exposed = subtract(c, b);     // inside idle: compute-stream collectives are not in b
    const auto draw = [&](const Intervals& v, const char* fill, const char* what) {
      for (const auto& [a, e] : unite(v, half_px)) {
        const double x0 = x_of(a), x1 = x_of(e);
        if (x1 - x0 < 0.25) continue;
        o += "<rect x=\"" + num(x0) + "\" y=\"" + num(row_y[r]) + "\" width=\"" + num(x1 - x0) + "\" height=\"" + num(row_h[r]) +
             "\" fill=\"" + fill + "\"><title>" + escape(t.rows[r].group_label) + ": " + what + " " + ms(a) + " to " + ms(e) + " ms (" +
             ms(e - a) + " ms)</title></rect>\n";
      }
    };
    draw(waiting, "url(#bubble)", "bubble (idle)");
    draw(exposed, "url(#exposed)", "communication in flight while compute waits");
    exposed_bars[r] = unite(exposed, half_px);
  }
  o += "</g>\n";

  // Ops.
  o += "<g id=\"ops\" font-size=\"10\" text-anchor=\"middle\">\n";
  for (const auto& rc : rects) {
    const auto& st = t.styles[rc.style];
    const double x0 = x_of(rc.start), x1 = x_of(rc.end);
    const double w = std::max(x1 - x0, 0.3);
    const double h = row_h[rc.row];
    o += "<rect x=\"" + num(x0) + "\" y=\"" + num(row_y[rc.row]) + "\" width=\"" + num(w) + "\" height=\"" + num(h) + "\" fill=\"" + st.color +
         "\"" + (w > 4 ? " stroke=\"#fff\" stroke-width=\"0.5\"" : "") + "><title>" + escape(rc.tooltip) + "</title></rect>\n";
  }
  o += "</g>\n";

  // Texts (micro-batch numbers), once per run of touching rectangles of one pass (same merge key and
  // text), centered on the run when it is wide enough.
  o += "<g id=\"labels\" font-size=\"10\" text-anchor=\"middle\" pointer-events=\"none\">\n";
  for (std::size_t i = 0; i < rects.size();) {
    std::size_t j = i + 1;
    if (rects[i].key != 0) {
      while (j < rects.size() && rects[j].row == rects[i].row && rects[j].key == rects[i].key && rects[j].text == rects[i].text &&
             rects[j].start - rects[j - 1].end <= 2 * half_px) {
        ++j;
      }
    }
    const Rect& rc = rects[i];
    const double x0 = x_of(rc.start), x1 = x_of(rects[j - 1].end);
    const bool compute = t.rows[rc.row].compute;
    const double font = compute ? 10 : 8;
    if (!rc.text.empty() && x1 - x0 >= static_cast<double>(rc.text.size()) * font * 0.62 + 4) {
      o += "<text x=\"" + num((x0 + x1) / 2) + "\" y=\"" + num(row_y[rc.row] + row_h[rc.row] / 2 + font * 0.35) + "\"" +
           (compute ? "" : " font-size=\"8\"") + " fill=\"" + text_color(t.styles[rc.style].color) + "\">" + escape(rc.text) + "</text>\n";
    }
    i = j;
  }
  o += "</g>\n";

  // Exposed-communication bars, on top.
  o += "<g id=\"exposed\" fill=\"#d62728\">\n";
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    for (const auto& [a, e] : exposed_bars[r]) {
      const double x0 = x_of(a), x1 = x_of(e);
      o += "<rect x=\"" + num(x0) + "\" y=\"" + num(row_y[r] + row_h[r] - kExposedBar) + "\" width=\"" + num(std::max(x1 - x0, 0.5)) +
           "\" height=\"" + num(kExposedBar) + "\"><title>" + escape(t.rows[r].group_label) + ": exposed communication " + ms(a) + " to " +
           ms(e) + " ms (" + ms(e - a) + " ms)</title></rect>\n";
    }
  }
  o += "</g>\n";

  // Legend.
  o += "<g id=\"legend\" font-size=\"12\">\n";
  o += "<text x=\"20\" y=\"" + num(legend_y - 8) + "\" font-size=\"12\" font-weight=\"bold\">legend</text>\n";
  std::size_t n = 0;
  const auto entry = [&](const std::string& fill, const std::string& name, bool bar) {
    const double ex = 20 + static_cast<double>(n % per_line) * kLegendEntry;
    const double ey = legend_y + static_cast<double>(n / per_line) * 20;
    if (bar) {
      o += "<rect x=\"" + num(ex) + "\" y=\"" + num(ey + 6) + "\" width=\"16\" height=\"" + num(kExposedBar) + "\" fill=\"" + fill + "\"/>";
    } else {
      o += "<rect x=\"" + num(ex) + "\" y=\"" + num(ey) + "\" width=\"16\" height=\"11\" fill=\"" + fill + "\" stroke=\"#999\" stroke-width=\"0.5\"/>";
    }
    o += "<text x=\"" + num(ex + 22) + "\" y=\"" + num(ey + 10) + "\">" + escape(name) + "</text>\n";
    ++n;
  };
  for (std::size_t s = 0; s < t.styles.size(); ++s) {
    if (used[s]) entry(t.styles[s].color, t.styles[s].name, false);
  }
  entry("url(#bubble)", "bubble (compute idle)", false);
  entry("#d62728", "exposed communication", true);
  o += "</g>\n</svg>\n";
  return o;
}

}  // namespace mfusim::report
