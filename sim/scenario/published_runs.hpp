#pragma once
// `mfusim validate`: replays published training runs (schema published-runs/1,
// ../shared/validation/SCHEMA.md) and compares predicted with measured step times.
//
// Each run becomes a training scenario: the cluster from its gpu / gpus_per_node / scale_out fields
// (rail-optimized or fat-tree NDR/HDR fabric from the catalog, non-blocking unless an
// oversubscription is given), the model from its fields (gpt: LayerNorm, GELU, learned positions, biases;
// llama / mixtral: RMSNorm, SwiGLU, RoPE; other: the given MLP with LayerNorm and RoPE), the plan and
// batch as published (vpp > 1: interleaved 1F1B; zero 0-3: none / distributed optimizer / ZeRO-2 /
// ZeRO-3), analytical collectives. The memory check reports instead of rejecting (these runs ran).
// Runs that cannot be expressed are listed as unsupported with the reason, never dropped.
//
// `overrides` (`mfusim validate --set key.path=value`) apply to every run's generated scenario, after
// the fields above and before validation, with the keys of a scenario file: cluster.* (the generated
// cluster: node, fabric, scale_out, ...), parallel.*, training.*, fidelity.*. They answer "what would
// the error be if every run used flow-level collectives" (--set fidelity.collectives=flow). A key that
// does not exist is an error of the whole command (exit code 2), not an unsupported run; a value that
// one run's plan cannot take makes that run unsupported, with the reason.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/node.hpp"

namespace mfusim::scenario {

struct ValidationRow {
  std::string id;
  std::string confidence;
  std::string status;  // ok | unsupported | failed
  std::string reason;  // unsupported / failed: why
  double measured_step_time_s = 0.0;
  double predicted_step_time_s = 0.0;
  double error_pct = 0.0;  // predicted / measured - 1, in percent
  double predicted_mfu = 0.0;  // own FLOP count (Megatron convention) on the predicted time
  std::optional<double> measured_mfu;
  std::optional<double> measured_peak_memory_gib;
  double predicted_peak_memory_gib = 0.0;
  bool fits = true;
  std::vector<std::string> derived;
};

struct ValidationReport {
  std::string file;
  std::vector<ValidationRow> rows;
  double mape_pct = 0.0;
  double median_abs_error_pct = 0.0;
  double max_abs_error_pct = 0.0;
  std::size_t simulated = 0;
  std::vector<std::string> overrides;
};

// One run of the file, read and checked but not simulated: its row (id, confidence, measured figures),
// the training scenario tree it becomes, or why it cannot be expressed.
struct PublishedRun {
  ValidationRow row;
  config::Node scenario;
  std::string unsupported;
};

// Reads and checks the whole file (schema, every run, unique ids). Throws core::InputError
// (file:line:column) when the file is malformed.
std::vector<PublishedRun> read_published_runs(const std::filesystem::path& file);

// Throws core::InputError (file:line:column) when the file is malformed.
ValidationReport validate_published_runs(const std::filesystem::path& file, const std::vector<std::string>& only_ids = {},
                                         const std::vector<std::string>& overrides = {});

std::string format_validation(const ValidationReport& r);

// The scenario tree `mfusim validate` builds for run `id` (plan search tests start from published
// plans). Throws core::InputError when the id is unknown or the run cannot be expressed.
config::Node published_run_scenario(const std::filesystem::path& file, const std::string& id);

}  // namespace mfusim::scenario
