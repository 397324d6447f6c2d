#pragma once
// One step drawn as an SVG timeline, for teaching (docs/timelines.md): rows grouped by rank (a compute
// row first, then that rank's communication streams), time on the x axis in ms, every op a rectangle
// colored by its kind with a <title> tooltip and its text (a micro-batch number) inside when it fits.
//
// On each group's compute row the writer marks, from the ops given (before any merging):
//   bubble    the compute stream is idle and none of the rank's communication is in flight
//             (grey hatching): waiting for another pipeline stage, or the end of the step;
//   exposed   communication of the rank is in flight while no compute op runs (red hatching where the
//             compute stream is idle, and a red bar under the row for all of it, including
//             collectives that run on the compute stream itself, e.g. TP without --tp-comm-overlap).
// Adjacent marks closer than half a pixel are drawn as one.
//
// Readability: above kMaxTimelineRectangles ops, consecutive ops of one row with the same nonzero
// merge_key (one pass of one micro-batch, say) and less than a pixel apart become one rectangle,
// colored by the kind that takes most of its time, whose tooltip lists the time per kind; if that is
// still above the limit the writer throws core::InputError naming ways to shrink the picture.
// Output bytes depend only on the input (fixed-precision numbers, input order kept).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mfusim::report {

struct TimelineStyle {
  std::string name;             // legend text, e.g. "forward"
  std::string color;            // fill, e.g. "#4c78a8"
  bool communication = false;   // communication (exposure) rather than compute
};

struct TimelineRow {
  std::string label;        // the stream, e.g. "compute", "dp"
  std::string group_label;  // the rank, shown on its compute row, e.g. "stage 0 (GPU 0)"
  std::uint32_t group = 0;  // rows of one rank share a group
  bool compute = false;     // the group's compute row: bubbles and exposure are marked on it
};

struct TimelineOp {
  std::uint32_t row = 0;
  std::uint32_t style = 0;
  std::int64_t start_ps = 0;
  std::int64_t end_ps = 0;
  std::string text;             // drawn inside the rectangle when wide enough (e.g. "3")
  std::string tooltip;          // the rectangle's <title>
  std::uint64_t merge_key = 0;  // 0: never merged
  std::string merge_text;       // tooltip head of a merged rectangle, e.g. "F3 L0-19"
};

struct Timeline {
  std::string title;
  std::string subtitle;
  std::int64_t end_ps = 0;  // the x axis spans [0, end_ps]
  std::vector<TimelineStyle> styles;
  std::vector<TimelineRow> rows;  // drawn in this order
  std::vector<TimelineOp> ops;
};

inline constexpr std::size_t kMaxTimelineRectangles = 5000;

// Throws core::InputError when the picture would hold more than kMaxTimelineRectangles rectangles.
std::string timeline_svg(const Timeline& timeline);

}  // namespace mfusim::report
