#include "scenario/scenario.hpp"

#include <array>
#include <map>
#include <string>
#include <utility>

#include "config/loader.hpp"
#include "config/overrides.hpp"
#include "config/reader.hpp"
#include "core/strings.hpp"

namespace mfusim::scenario {
namespace {

using config::Choice;
using config::Reader;

constexpr std::array<Choice<PipelineSchedule>, 2> kSchedules{{
    {"gpipe", PipelineSchedule::kGpipe, "all forwards, then all backwards (Huang et al. 2019)"},
    {"1f1b", PipelineSchedule::kOneFOneB, "one-forward-one-backward (PipeDream-Flush, Narayanan et al. 2021)"},
}};

enum class WorkloadKind { kPipeline, kTaskGraph };
constexpr std::array<Choice<WorkloadKind>, 2> kWorkloadKinds{{
    {"pipeline", WorkloadKind::kPipeline, "pipeline-parallel step exercise (GPipe / 1F1B)"},
    {"task_graph", WorkloadKind::kTaskGraph, "explicit tasks on streams with dependencies"},
}};

int positive_int(Reader& r, std::string_view key, int max) {
  const int v = r.required<int>(key);
  if (v < 1 || v > max) {
    r.fail(key, std::to_string(v) + " is out of range (valid: 1 to " + std::to_string(max) + ")");
  }
  return v;
}

core::Duration non_negative(Reader& r, std::string_view key) {
  return r.required<core::Duration>(key);  // the unit parser already rejects negative values
}

PipelineExercise read_pipeline(Reader& w) {
  PipelineExercise p;
  p.stages = positive_int(w, "stages", 1024);
  p.microbatches = positive_int(w, "microbatches", 65536);
  p.schedule = w.choice<PipelineSchedule>("schedule", kSchedules, PipelineSchedule::kOneFOneB);
  p.forward = non_negative(w, "forward");
  p.backward = non_negative(w, "backward");
  p.p2p = w.optional<core::Duration>("p2p", core::Duration::zero());
  return p;
}

core::TaskGraph read_task_graph(Reader& w) {
  core::TaskGraph g;
  std::map<std::string, core::StreamIndex> streams;
  const auto stream_names = w.list<std::string>("streams");
  if (stream_names.empty()) w.fail("streams", "at least one stream is required");
  for (const auto& s : stream_names) {
    if (!streams.emplace(s, g.add_stream(s)).second) w.fail("streams", "stream '" + s + "' is listed twice");
  }
  auto tasks = w.mappings("tasks");
  std::map<std::string, core::TaskIndex> index;
  std::vector<std::vector<std::string>> after(tasks.size());
  for (auto& t : tasks) {
    const auto name = t.required<std::string>("name");
    const auto stream = t.required<std::string>("stream");
    const auto it = streams.find(stream);
    if (it == streams.end()) {
      std::string message = "unknown stream '" + stream + "'";
      if (auto m = core::closest_match(stream, stream_names)) message += " (did you mean '" + *m + "'?)";
      t.fail("stream", message + "; declared streams: " + core::join(stream_names));
    }
    const auto duration = t.required<core::Duration>("duration");
    const auto id = g.add_task(name, it->second, duration);
    if (!index.emplace(name, id).second) t.fail("name", "task name '" + name + "' is used twice");
    after[id] = t.has("after") ? t.list<std::string>("after") : std::vector<std::string>{};
    t.finish();
  }
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    for (const auto& name : after[i]) {
      const auto it = index.find(name);
      if (it == index.end()) tasks[i].fail("after", "unknown task '" + name + "'");
      g.add_dependency(static_cast<core::TaskIndex>(i), it->second);
    }
  }
  return g;
}

}  // namespace

core::TaskGraph lower_pipeline(const PipelineExercise& p, std::vector<workload::TaskLabel>* labels) {
  core::TaskGraph g;
  const auto label = [labels](workload::OpPart part, bool backward, int microbatch, int stage) {
    if (labels == nullptr) return;
    workload::TaskLabel l;
    l.part = part;
    l.pass = backward ? workload::Pass::kBackward : workload::Pass::kForward;
    l.microbatch = microbatch;
    l.index = stage;
    labels->push_back(l);
  };
  if (labels != nullptr) labels->clear();
  const int S = p.stages;
  const int M = p.microbatches;
  std::vector<core::StreamIndex> stage(static_cast<std::size_t>(S)), fwd_link, bwd_link;
  for (int s = 0; s < S; ++s) stage[static_cast<std::size_t>(s)] = g.add_stream("stage" + std::to_string(s));
  for (int s = 0; s + 1 < S; ++s) {
    const auto a = std::to_string(s), b = std::to_string(s + 1);
    fwd_link.push_back(g.add_stream("link" + a + "->" + b));
    bwd_link.push_back(g.add_stream("link" + b + "->" + a));
  }
  // Tasks are added stream by stream in issue order; dependencies are added afterwards through these
  // tables of task ids, indexed [stage][microbatch].
  const auto idx = [M](int s, int i) { return static_cast<std::size_t>(s) * static_cast<std::size_t>(M) + static_cast<std::size_t>(i); };
  const std::size_t n = static_cast<std::size_t>(S) * static_cast<std::size_t>(M);
  std::vector<core::TaskIndex> F(n), B(n), act(n), grad(n);

  for (int s = 0; s < S; ++s) {
    std::vector<std::pair<bool, int>> order;  // (is_backward, microbatch)
    if (p.schedule == PipelineSchedule::kGpipe) {
      for (int i = 0; i < M; ++i) order.emplace_back(false, i);
      for (int i = 0; i < M; ++i) order.emplace_back(true, i);
    } else {
      const int warmup = std::min(S - 1 - s, M);
      for (int i = 0; i < warmup; ++i) order.emplace_back(false, i);
      for (int i = 0; i < M - warmup; ++i) {
        order.emplace_back(false, warmup + i);
        order.emplace_back(true, i);
      }
      for (int i = M - warmup; i < M; ++i) order.emplace_back(true, i);
    }
    for (const auto& [backward, i] : order) {
      const auto name = std::string(backward ? "B" : "F") + std::to_string(i) + "@stage" + std::to_string(s);
      const auto t = g.add_task(name, stage[static_cast<std::size_t>(s)], backward ? p.backward : p.forward);
      label(workload::OpPart::kStage, backward, i, s);
      (backward ? B : F)[idx(s, i)] = t;
    }
  }
  for (int s = 0; s + 1 < S; ++s) {
    for (int i = 0; i < M; ++i) {
      const auto mb = std::to_string(i);
      act[idx(s, i)] = g.add_task("act" + mb + " " + std::to_string(s) + "->" + std::to_string(s + 1),
                                  fwd_link[static_cast<std::size_t>(s)], p.p2p);
      label(workload::OpPart::kSendActivation, false, i, -1);
    }
    for (int i = 0; i < M; ++i) {
      const auto mb = std::to_string(i);
      grad[idx(s + 1, i)] = g.add_task("grad" + mb + " " + std::to_string(s + 1) + "->" + std::to_string(s),
                                       bwd_link[static_cast<std::size_t>(s)], p.p2p);
      label(workload::OpPart::kSendGradient, true, i, -1);
    }
  }
  for (int s = 0; s < S; ++s) {
    for (int i = 0; i < M; ++i) {
      if (s > 0) g.add_dependency(F[idx(s, i)], act[idx(s - 1, i)]);
      g.add_dependency(B[idx(s, i)], F[idx(s, i)]);
      if (s + 1 < S) {
        g.add_dependency(B[idx(s, i)], grad[idx(s + 1, i)]);
        g.add_dependency(act[idx(s, i)], F[idx(s, i)]);
      }
      if (s > 0) g.add_dependency(grad[idx(s, i)], B[idx(s, i)]);
    }
  }
  return g;
}

Scenario build_scenario(const config::Node& root, const std::string& source, bool check_plan) {
  Scenario sc;
  sc.source = source;
  config::ResolvedConfig resolved;
  Reader r(root, "", &resolved);
  sc.name = r.required<std::string>("name");
  sc.description = r.optional<std::string>("description", "");
  if (auto e = r.maybe_mapping("engine")) {
    if (auto v = e->maybe<std::int64_t>("max_events")) {
      if (*v < 1) e->fail("max_events", "must be at least 1");
      sc.limits.max_events = static_cast<std::uint64_t>(*v);
    }
    if (auto t = e->maybe<core::Duration>("time_limit")) sc.limits.until = core::SimTime::zero() + *t;
    e->finish();
  }
  if (!r.has("workload")) {
    sc.training = read_training(r, check_plan);
    r.finish();
    sc.resolved = resolved.to_node();
    return sc;
  }
  Reader w = r.mapping("workload");
  switch (w.choice<WorkloadKind>("kind", kWorkloadKinds)) {
    case WorkloadKind::kPipeline:
      sc.pipeline = read_pipeline(w);
      sc.graph = lower_pipeline(*sc.pipeline, &sc.labels);
      break;
    case WorkloadKind::kTaskGraph:
      sc.graph = read_task_graph(w);
      break;
  }
  w.finish();
  r.finish();
  try {
    sc.graph.validate();
  } catch (const core::InputError& e) {
    w.fail_here(e.what());
  }
  sc.resolved = resolved.to_node();
  return sc;
}

Scenario load_scenario(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  config::Node root = config::load_file(path);
  for (const auto& o : overrides) config::apply_override(root, o);
  return build_scenario(root, path.string());
}

}  // namespace mfusim::scenario
