#pragma once
// A scenario: everything one simulation needs, read from YAML, validated and frozen before the first
// event. A scenario is either a training step (sections cluster, model, parallel, training, fidelity;
// see training.hpp) or one of the engine exercises below (section workload), lowered to a
// core::TaskGraph:
//   pipeline   - a pipeline-parallel step on `stages` GPUs with `microbatches` micro-batches under the
//                GPipe or 1F1B schedule; forward/backward times per micro-batch and stage, and one
//                point-to-point transfer time per activation or gradient hand-off. With p2p = 0 the
//                step takes (m + p - 1)(t_f + t_b) and the bubble fraction is (p - 1)/(m + p - 1)
//                (Narayanan et al., SC'21, section 2.2), which the tests check.
//   task_graph - explicit tasks on named streams with dependencies (CUDA-stream semantics).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/node.hpp"
#include "core/engine.hpp"
#include "core/task_graph.hpp"
#include "core/time.hpp"
#include "scenario/training.hpp"
#include "workload/task_label.hpp"

namespace mfusim::scenario {

enum class PipelineSchedule { kGpipe, kOneFOneB };

struct PipelineExercise {
  int stages = 1;
  int microbatches = 1;
  PipelineSchedule schedule = PipelineSchedule::kOneFOneB;
  core::Duration forward;
  core::Duration backward;
  core::Duration p2p;
};

struct Scenario {
  std::string source;  // the file it was loaded from
  std::string name;
  std::string description;
  core::RunLimits limits;
  std::optional<PipelineExercise> pipeline;  // set for `kind: pipeline`
  core::TaskGraph graph;                     // the lowered exercise workload
  std::vector<workload::TaskLabel> labels;   // per graph task (pipeline exercise; empty for task_graph)
  std::optional<TrainingSetup> training;     // set for training-step scenarios
  config::Node resolved;                     // fully resolved configuration, defaults included
};

// Loads, applies `--set` overrides, validates and lowers. Throws core::InputError (config::ConfigError
// with file:line:column) for any bad input.
Scenario load_scenario(const std::filesystem::path& path, const std::vector<std::string>& overrides = {});
// Same from an already loaded tree (tests). `check_plan` false: see read_training (plan search).
Scenario build_scenario(const config::Node& root, const std::string& source, bool check_plan = true);

// Lowers a pipeline exercise into per-stage compute streams and per-direction link streams; `labels`
// (optional) receives one TaskLabel per task: kStage forward/backward passes with their micro-batch and
// stage (index), kSendActivation / kSendGradient hand-offs with their micro-batch.
core::TaskGraph lower_pipeline(const PipelineExercise& p, std::vector<workload::TaskLabel>* labels = nullptr);

}  // namespace mfusim::scenario
