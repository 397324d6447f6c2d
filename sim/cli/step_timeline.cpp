#include "cli/step_timeline.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "core/error.hpp"
#include "workload/parallel_plan.hpp"
#include "workload/step_simulator.hpp"

namespace mfusim::cli {
namespace {

using workload::Dim;
using workload::OpPart;
using workload::Pass;
using workload::TaskInfo;
using workload::TaskKind;
using workload::TaskLabel;

enum class Kind : std::uint32_t { kForward, kBackward, kWeightGrad, kRecompute, kOptimizer, kCommTp, kCommDp, kCommPp, kCommEp, kCommCp };

struct KindInfo {
  const char* category;  // trace "cat"
  const char* legend;    // timeline legend
  const char* color;
  bool communication;
};

// Colors: Tableau 10 (Vega's "tableau10" scheme), one per kind; red is kept for exposed communication.
constexpr KindInfo kKinds[] = {
    {"forward", "forward", "#4c78a8", false},
    {"backward", "backward", "#f58518", false},
    {"weight-grad", "weight grad (W pass)", "#b279a2", false},
    {"recompute", "recompute", "#9ecae9", false},
    {"optimizer", "optimizer", "#54a24b", false},
    {"comm-tp", "TP comm", "#eeca3b", true},
    {"comm-dp", "DP comm (grads, params)", "#72b7b2", true},
    {"comm-pp", "PP send/recv", "#9d755d", true},
    {"comm-ep", "EP all-to-all", "#ff9da6", true},
    {"comm-cp", "CP comm", "#bcbd22", true},
};

const KindInfo& info_of(Kind k) { return kKinds[static_cast<std::uint32_t>(k)]; }

Kind kind_of(const TaskInfo& info) {
  switch (info.kind) {
    case TaskKind::kRecompute: return Kind::kRecompute;
    case TaskKind::kOptimizer: return Kind::kOptimizer;
    case TaskKind::kComm:
      switch (info.dim) {
        case Dim::kTp: return Kind::kCommTp;
        case Dim::kDp: return Kind::kCommDp;
        case Dim::kPp: return Kind::kCommPp;
        case Dim::kEp: return Kind::kCommEp;
        case Dim::kCp: return Kind::kCommCp;
      }
      return Kind::kCommDp;
    case TaskKind::kCompute: break;
  }
  switch (info.label.pass) {
    case Pass::kForward: return Kind::kForward;
    case Pass::kBackwardWeight: return Kind::kWeightGrad;
    default: return Kind::kBackward;
  }
}

// Exercise labels: stage passes and hand-offs.
Kind kind_of(const TaskLabel& l) {
  if (l.part == OpPart::kSendActivation || l.part == OpPart::kSendGradient) return Kind::kCommPp;
  return l.pass == Pass::kForward ? Kind::kForward : Kind::kBackward;
}

std::string group_name(const TaskInfo& info) {
  if (info.label.part == OpPart::kExpertGrads) return "EDP";  // expert data parallelism
  switch (info.dim) {
    case Dim::kTp: return "TP";
    case Dim::kCp: return "CP";
    case Dim::kEp: return "EP";
    case Dim::kDp: return "DP";
    case Dim::kPp: return "PP";
  }
  return "?";
}

std::string layers_text(const TaskLabel& l) {
  if (l.layer_begin < 0 || l.layer_end <= l.layer_begin) return "";
  if (l.layer_end - l.layer_begin == 1) return std::to_string(l.layer_begin);
  return std::to_string(l.layer_begin) + "-" + std::to_string(l.layer_end - 1);
}

std::string readable_bytes(std::int64_t b) {
  char buf[32];
  const double v = static_cast<double>(b);
  if (v >= 1024.0 * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", v / (1024.0 * 1024 * 1024));
  } else if (v >= 1024.0 * 1024) {
    std::snprintf(buf, sizeof buf, "%.2f MiB", v / (1024.0 * 1024));
  } else if (v >= 1024.0) {
    std::snprintf(buf, sizeof buf, "%.2f KiB", v / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(b));
  }
  return buf;
}

std::string ms(std::int64_t ps) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ps) * 1e-9);
  return buf;
}

report::TraceArg num_arg(std::string key, std::int64_t v) { return {std::move(key), "", v, true}; }
report::TraceArg text_arg(std::string key, std::string v) { return {std::move(key), std::move(v), 0, false}; }

// The args of a training task (the order is the order Perfetto shows).
std::vector<report::TraceArg> training_args(const scenario::SimulationResult& r, const workload::RankLayout& layout, core::TaskIndex t) {
  const workload::StepProgram& p = *r.program;
  const TaskInfo& info = p.info[t];
  const TaskLabel& l = info.label;
  std::vector<report::TraceArg> a;
  a.push_back(num_arg("rank", info.rank));
  a.push_back(num_arg("stage", layout.coord(info.rank, Dim::kPp)));
  if (l.pass != Pass::kNone) a.push_back(text_arg("pass", std::string(to_string(l.pass))));
  if (l.microbatch >= 0) a.push_back(num_arg("microbatch", l.microbatch));
  if (l.chunk >= 0) a.push_back(num_arg("chunk", l.chunk));
  if (l.layer_end - l.layer_begin == 1) {
    a.push_back(num_arg("layer", l.layer_begin));
  } else if (l.layer_begin >= 0) {
    a.push_back(text_arg("layers", layers_text(l)));
  }
  a.push_back(text_arg("op", std::string(to_string(l.part))));
  if (l.of != OpPart::kNone) a.push_back(text_arg("for", std::string(to_string(l.of))));
  if (l.part == OpPart::kGradBucket) a.push_back(num_arg("bucket", l.index));
  if (info.kind == TaskKind::kComm) {
    const auto& req = p.requests[static_cast<std::size_t>(info.request)];
    const auto& group = req.groups->front();
    a.push_back(text_arg("collective", std::string(to_string(req.kind))));
    a.push_back(num_arg("bytes", req.bytes.count()));
    a.push_back(text_arg("group", group_name(info)));
    a.push_back(num_arg("group_size", static_cast<std::int64_t>(group.size())));
    if (req.groups->size() > 1) a.push_back(num_arg("concurrent_groups", static_cast<std::int64_t>(req.groups->size())));
    if (req.kind == workload::CollectiveKind::kSendRecv && group.size() == 2) {
      a.push_back(num_arg("peer", group[0] == info.rank ? group[1] : group[0]));
    }
    const auto k = static_cast<std::size_t>(info.request);
    if (k < r.collective_plans.size() && !r.collective_plans[k].empty()) a.push_back(text_arg("algorithm", r.collective_plans[k]));
  }
  return a;
}

std::vector<report::TraceArg> exercise_args(const TaskLabel& l) {
  std::vector<report::TraceArg> a;
  a.push_back(text_arg("pass", std::string(to_string(l.pass))));
  a.push_back(num_arg("microbatch", l.microbatch));
  if (l.index >= 0) a.push_back(num_arg("stage", l.index));
  a.push_back(text_arg("op", std::string(to_string(l.part))));
  return a;
}

std::vector<report::TimelineStyle> styles() {
  std::vector<report::TimelineStyle> v;
  for (const auto& k : kKinds) v.push_back({k.legend, k.color, k.communication});
  return v;
}

// One pass of one micro-batch (recomputation belongs to its backward): the unit merged when the
// picture has too many ops.
std::uint64_t merge_key(const TaskLabel& l) {
  if (l.microbatch < 0) return 0;
  std::uint64_t family = 0;
  switch (l.pass) {
    case Pass::kForward: family = 1; break;
    case Pass::kBackward:
    case Pass::kBackwardInput:
    case Pass::kRecompute: family = 2; break;
    case Pass::kBackwardWeight: family = 3; break;
    default: return 0;
  }
  return (family << 48) | (static_cast<std::uint64_t>(l.microbatch + 1) << 16) | static_cast<std::uint64_t>(l.chunk + 1);
}

std::string pass_head(const TaskLabel& l) {
  const char* letter = l.pass == Pass::kForward ? "F" : l.pass == Pass::kBackwardWeight ? "W" : "B";
  std::string s = letter + std::to_string(l.microbatch);
  if (l.chunk >= 0) s += "." + std::to_string(l.chunk);
  return s;
}

std::string op_text(const TaskLabel& l) {
  if (l.microbatch < 0) return "";
  return std::to_string(l.microbatch) + (l.chunk >= 0 ? "." + std::to_string(l.chunk) : "");
}

std::string format_percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * v);
  return buf;
}

report::Timeline training_timeline(const scenario::Scenario& sc, const scenario::SimulationResult& r,
                                   const std::vector<std::int64_t>& requested) {
  const workload::StepProgram& p = *r.program;
  const auto& plan = sc.training->plan;
  const workload::RankLayout layout(plan);
  std::vector<std::int64_t> ranks = requested;
  std::vector<std::int64_t> simulated = p.ranks;
  std::sort(simulated.begin(), simulated.end());
  if (ranks.empty()) {
    for (std::int64_t s = 0; s < plan.pp; ++s) ranks.push_back(layout.rank(0, 0, 0, s));
  }
  for (auto g : ranks) {
    if (std::binary_search(simulated.begin(), simulated.end(), g)) continue;
    std::string valid;
    for (std::size_t i = 0; i < simulated.size() && i < 16; ++i) valid += (i ? ", " : "") + std::to_string(simulated[i]);
    if (simulated.size() > 16) valid += ", ...";
    throw core::InputError("--timeline-ranks: GPU " + std::to_string(g) + " is not simulated (simulated: " + valid +
                           "; a scenario simulates one representative GPU per pipeline stage)");
  }

  // Rows: per rank its compute stream, then the communication streams it used.
  const auto& streams = p.graph.streams();
  const auto& tasks = p.graph.tasks();
  std::vector<std::size_t> used(streams.size(), 0);
  for (const auto& task : tasks) ++used[task.stream];
  std::vector<std::int32_t> row_of(streams.size(), -1);
  report::Timeline tl;
  tl.styles = styles();
  // Overlapped forward/backward pairs put their EP collectives on ep.f / ep.b (and the backward's TP and
  // CP on tp.b / cp.b); DeepEP's InfiniBand hop runs on rdma (rdma.b in a pair's backward).
  const std::pair<const char*, const char*> order[] = {
      {"compute", "compute"},   {"tp", "tp (overlapped)"},   {"tp.b", "tp (paired bwd)"}, {"cp", "cp ring"},
      {"cp.b", "cp (paired bwd)"}, {"ep.f", "ep (paired fwd)"}, {"ep.b", "ep (paired bwd)"},  {"rdma", "ep InfiniBand"},
      {"rdma.b", "ep InfiniBand (bwd)"}, {"dp", "dp"},       {"send", "send act"},        {"sendb", "send grad"}};
  for (std::size_t g = 0; g < ranks.size(); ++g) {
    const std::string prefix = "r" + std::to_string(ranks[g]) + ".";
    const auto stage = layout.coord(ranks[g], Dim::kPp);
    for (const auto& [suffix, label] : order) {
      for (std::size_t s = 0; s < streams.size(); ++s) {
        if (streams[s] != prefix + suffix) continue;
        const bool compute = std::string(suffix) == "compute";
        if (!compute && used[s] == 0) continue;
        row_of[s] = static_cast<std::int32_t>(tl.rows.size());
        report::TimelineRow row;
        row.label = label;
        row.group = static_cast<std::uint32_t>(g);
        row.compute = compute;
        if (compute) {
          row.group_label = plan.pp > 1 ? "stage " + std::to_string(stage) + " (GPU " + std::to_string(ranks[g]) + ")"
                                        : "GPU " + std::to_string(ranks[g]);
        }
        tl.rows.push_back(std::move(row));
      }
    }
  }
  for (core::TaskIndex t = 0; t < tasks.size(); ++t) {
    const auto row = row_of[tasks[t].stream];
    const auto& sp = r.spans[t];
    if (row < 0 || !sp.started) continue;
    const TaskInfo& info = p.info[t];
    const TaskLabel& l = info.label;
    const auto end = sp.finished ? sp.end : r.run.end_time;
    report::TimelineOp op;
    op.row = static_cast<std::uint32_t>(row);
    op.style = static_cast<std::uint32_t>(kind_of(info));
    op.start_ps = sp.start.ps();
    op.end_ps = end.ps();
    op.text = op_text(l);
    op.tooltip = short_name(l) + " [" + info_of(kind_of(info)).category + "] " + ms(op.start_ps) + " to " + ms(op.end_ps) + " ms (" +
                 ms(op.end_ps - op.start_ps) + " ms)";
    if (info.kind == TaskKind::kComm) {
      const auto& req = p.requests[static_cast<std::size_t>(info.request)];
      op.tooltip += "; " + std::string(to_string(req.kind)) + " of " + readable_bytes(req.bytes.count()) + " over " + group_name(info) +
                    " group of " + std::to_string(req.groups->front().size());
      const auto k = static_cast<std::size_t>(info.request);
      if (k < r.collective_plans.size() && !r.collective_plans[k].empty()) op.tooltip += " (" + r.collective_plans[k] + ")";
    }
    op.merge_key = merge_key(l);
    if (op.merge_key != 0) op.merge_text = pass_head(l);
    tl.ops.push_back(std::move(op));
  }
  tl.end_ps = r.step_time.ps();
  char head[256];
  std::snprintf(head, sizeof head, "%s: one training step, %.2f ms, MFU %s", sc.name.c_str(), r.step_time.seconds() * 1e3,
                format_percent(r.step ? r.step->mfu : 0.0).c_str());
  tl.title = head;
  tl.subtitle = std::string(!requested.empty() ? "selected GPUs"
                                : plan.pp > 1 ? "one pipeline (DP replica 0, TP rank 0 of each stage)"
                                              : "one GPU (DP replica 0, TP rank 0)") +
                "; " +
                std::string(to_string(plan.schedule)) + ", pp " + std::to_string(plan.pp) + ", " + std::to_string(plan.microbatches()) +
                " micro-batches, tp " + std::to_string(plan.tp) + ", dp " + std::to_string(plan.dp) + "; numbers in bars: micro-batch";
  return tl;
}

report::Timeline exercise_timeline(const scenario::Scenario& sc, const scenario::SimulationResult& r) {
  const auto& ex = *sc.pipeline;
  const auto& streams = sc.graph.streams();
  const auto& tasks = sc.graph.tasks();
  report::Timeline tl;
  tl.styles = styles();
  // Stream s < stages is stage s; the links "linkA->B" belong to their sender A.
  std::vector<std::int32_t> row_of(streams.size(), -1);
  for (int s = 0; s < ex.stages; ++s) {
    row_of[static_cast<std::size_t>(s)] = static_cast<std::int32_t>(tl.rows.size());
    tl.rows.push_back({"compute", "stage " + std::to_string(s), static_cast<std::uint32_t>(s), true});
    for (const bool forward : {true, false}) {
      for (std::size_t k = static_cast<std::size_t>(ex.stages); k < streams.size(); ++k) {
        const std::string& n = streams[k];
        const auto arrow = n.find("->");
        if (n.rfind("link", 0) != 0 || arrow == std::string::npos || std::stoi(n.substr(4, arrow - 4)) != s) continue;
        const int to = std::stoi(n.substr(arrow + 2));
        if ((to > s) != forward) continue;
        row_of[k] = static_cast<std::int32_t>(tl.rows.size());
        tl.rows.push_back({(forward ? "send act -> " : "send grad -> ") + std::to_string(to), "", static_cast<std::uint32_t>(s), false});
      }
    }
  }
  for (core::TaskIndex t = 0; t < tasks.size(); ++t) {
    const auto row = row_of[tasks[t].stream];
    const auto& sp = r.spans[t];
    if (row < 0 || !sp.started) continue;
    const TaskLabel& l = sc.labels[t];
    const auto end = sp.finished ? sp.end : r.run.end_time;
    report::TimelineOp op;
    op.row = static_cast<std::uint32_t>(row);
    op.style = static_cast<std::uint32_t>(kind_of(l));
    op.start_ps = sp.start.ps();
    op.end_ps = end.ps();
    op.text = std::to_string(l.microbatch);
    op.tooltip = tasks[t].name + " [" + info_of(kind_of(l)).category + "] " + ms(op.start_ps) + " to " + ms(op.end_ps) + " ms (" +
                 ms(op.end_ps - op.start_ps) + " ms)";
    tl.ops.push_back(std::move(op));
  }
  tl.end_ps = r.step_time.ps();
  char head[256];
  std::snprintf(head, sizeof head, "%s: one step, %.2f ms, bubble %s (ideal (p-1)/(m+p-1) = %s)", sc.name.c_str(),
                r.step_time.seconds() * 1e3, format_percent(r.bubble_fraction).c_str(), format_percent(r.ideal_bubble_fraction).c_str());
  tl.title = head;
  tl.subtitle = std::string(ex.schedule == scenario::PipelineSchedule::kGpipe ? "gpipe" : "1f1b") + ", " + std::to_string(ex.stages) +
                " stages, " + std::to_string(ex.microbatches) + " micro-batches; numbers in bars: micro-batch";
  return tl;
}

}  // namespace

std::vector<report::TraceSpan> trace_spans(const scenario::Scenario& sc, const scenario::SimulationResult& r) {
  std::vector<report::TraceSpan> spans;
  std::optional<workload::RankLayout> layout;
  if (sc.training) layout.emplace(sc.training->plan);
  for (std::size_t t = 0; t < r.spans.size(); ++t) {
    const auto& sp = r.spans[t];
    if (!sp.started) continue;
    const auto end = sp.finished ? sp.end : r.run.end_time;
    report::TraceSpan s;
    s.start_ps = sp.start.ps();
    s.end_ps = end.ps();
    if (sc.training) {
      const auto& info = r.program->info[t];
      s.name = short_name(info.label);
      s.track = r.task_track[t];
      s.category = info_of(kind_of(info)).category;
      s.args = training_args(r, *layout, static_cast<core::TaskIndex>(t));
    } else {
      s.name = sc.graph.tasks()[t].name;
      s.track = sc.graph.tasks()[t].stream;
      if (t < sc.labels.size()) {
        s.category = info_of(kind_of(sc.labels[t])).category;
        s.args = exercise_args(sc.labels[t]);
      }
    }
    spans.push_back(std::move(s));
  }
  return spans;
}

report::Timeline step_timeline(const scenario::Scenario& sc, const scenario::SimulationResult& r, const std::vector<std::int64_t>& ranks) {
  if (sc.training) return training_timeline(sc, r, ranks);
  if (!ranks.empty()) throw core::InputError("--timeline-ranks: only for training scenarios (a pipeline exercise draws every stage)");
  if (sc.pipeline) return exercise_timeline(sc, r);
  throw core::InputError("--timeline: draws training steps and pipeline exercises; '" + sc.name +
                         "' is a task_graph exercise (use --trace and ui.perfetto.dev)");
}

}  // namespace mfusim::cli
