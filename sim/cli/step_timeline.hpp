#pragma once
// From a simulated scenario to its labeled Chrome/Perfetto trace spans and to the SVG timeline of one
// pipeline (docs/timelines.md). Labels are formatted here, only when a trace or timeline is asked for;
// the lowering stores compact workload::TaskLabel values.
//
// Every op gets a kind, the trace's "cat" and the timeline's color:
//   forward, backward (input and weight gradients; input only under zb-h1), weight-grad (zb-h1's W
//   pass), recompute, optimizer, comm-tp, comm-dp (gradient reductions, parameter gathers; expert
//   gradients too), comm-pp (pipeline send/recv; the tied-embedding all-reduce), comm-ep, comm-cp.
#include <cstdint>
#include <string>
#include <vector>

#include "report/run_summary.hpp"
#include "report/svg_timeline.hpp"
#include "scenario/scenario.hpp"
#include "scenario/simulation.hpp"

namespace mfusim::cli {

// One span per started task; training tasks carry args (rank, stage, pass, micro-batch, chunk, layer
// or layers, op, and for communication: collective, bytes, group, group_size, groups, algorithm).
std::vector<report::TraceSpan> trace_spans(const scenario::Scenario& sc, const scenario::SimulationResult& r);

// The timeline of one pipeline. Training: the simulated ranks with TP = CP = DP coordinate 0, one per
// pipeline stage (the representative ranks of the symmetric expansion), or the GPUs in `ranks` (each
// must be simulated); each rank's compute stream and the communication streams it used. Pipeline
// exercise: every stage with its outgoing links. Throws InputError for a task_graph exercise or a rank
// that was not simulated (report::timeline_svg then refuses a picture too large to read).
report::Timeline step_timeline(const scenario::Scenario& sc, const scenario::SimulationResult& r,
                               const std::vector<std::int64_t>& ranks = {});

}  // namespace mfusim::cli
