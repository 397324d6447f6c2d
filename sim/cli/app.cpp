#include "cli/app.hpp"
#include "cli/collective_command.hpp"
#include "cli/compare_command.hpp"
#include "cli/output.hpp"
#include "cli/step_timeline.hpp"
#include "cli/sweep_command.hpp"
#include "cli/search_command.hpp"
#include "cli/training_summary.hpp"
#include "cli/validate_command.hpp"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "collective/collective_points.hpp"
#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "core/error.hpp"
#include "core/unit_parser.hpp"
#include "hardware/catalog.hpp"
#include "topology/cluster_builder.hpp"
#include "topology/router.hpp"
#include "topology/summary.hpp"
#include "report/run_summary.hpp"
#include "report/svg_timeline.hpp"
#include "scenario/scenario.hpp"
#include "scenario/simulation.hpp"

#ifndef MFUSIM_VERSION
#define MFUSIM_VERSION "unknown"
#endif

namespace mfusim::cli {
namespace {

struct RunOptions {
  std::string scenario;
  std::vector<std::string> overrides;
  std::string json_path;
  std::string trace_path;
  std::string timeline_path;
  std::vector<std::int64_t> timeline_ranks;
  std::string dump_config;
  std::optional<std::int64_t> max_events;
  std::string time_limit;
  std::optional<double> max_wall;  // host seconds
};

int command_run(const RunOptions& o, std::ostream& out, spdlog::logger& log) {
  scenario::Scenario sc = scenario::load_scenario(o.scenario, o.overrides);
  if (!o.dump_config.empty()) write_output(o.dump_config, config::to_yaml(sc.resolved), out, "the resolved configuration");
  core::RunLimits limits;
  if (o.max_events) {
    if (*o.max_events < 1) throw core::InputError("--max-events: must be at least 1");
    limits.max_events = static_cast<std::uint64_t>(*o.max_events);
  }
  if (!o.time_limit.empty()) {
    try {
      limits.until = core::SimTime::zero() + core::parse_duration(o.time_limit);
    } catch (const core::UnitError& e) {
      throw core::InputError(std::string("--time-limit: ") + e.what());
    }
  }
  if (o.max_wall) {
    if (!(*o.max_wall > 0) || !std::isfinite(*o.max_wall)) {
      throw core::InputError("--max-wall: must be a positive number of seconds (host time), e.g. 30");
    }
    limits.max_wall_seconds = *o.max_wall;
  }
  log.info("simulating '{}'", sc.name);
  const auto result = scenario::simulate(sc, limits, scenario::SimulationOptions{!o.trace_path.empty() || !o.timeline_path.empty()});
  log.info("{} events in {:.3f} ms of host time", result.run.events, result.wall_seconds * 1e3);
  // Drawn before anything is printed: a timeline too large to read is bad input (exit code 2).
  const std::string timeline = o.timeline_path.empty() ? "" : report::timeline_svg(step_timeline(sc, result, o.timeline_ranks));
  const report::RunSummary summary = summarize(sc, result);
  if (o.dump_config != "-" && o.json_path != "-") out << report::format_text(summary);
  if (!o.json_path.empty()) write_output(o.json_path, report::to_json(summary), out, "the JSON report");
  if (!o.timeline_path.empty()) write_output(o.timeline_path, timeline, out, "the timeline");
  if (!o.trace_path.empty()) {
    const auto spans = trace_spans(sc, result);
    const auto& tracks = sc.training ? result.trace_tracks : sc.graph.streams();
    write_output(o.trace_path, report::chrome_trace(tracks, spans, sc.training ? result.track_node : std::vector<std::uint32_t>{}),
                 out, "the trace");
  }
  if (result.run.status != core::RunStatus::kCompleted) {
    log.error("simulation did not complete: {} ({} unfinished items)", core::to_string(result.run.status),
              result.run.pending_items);
    return kSimulationFailed;
  }
  return kOk;
}

std::string describe(const std::string& topic) {
  if (topic == "units") {
    std::string s = "Quantities are written NUMBER[ ]UNIT, no sign; units are case-sensitive.\n";
    for (auto d : {core::Dimension::kTime, core::Dimension::kBytes, core::Dimension::kBandwidth,
                   core::Dimension::kFlops, core::Dimension::kFlopRate, core::Dimension::kPower}) {
      s += "  " + std::string(core::dimension_noun(d)) + " (e.g. " + std::string(core::dimension_example(d)) +
           "): " + core::accepted_units(d) + "\n";
    }
    return s;
  }
  if (topic == "workloads") {
    return "workload.kind:\n"
           "  pipeline    pipeline-parallel step exercise: stages, microbatches, schedule (gpipe | 1f1b),\n"
           "              forward, backward, p2p (durations)\n"
           "  task_graph  explicit tasks: streams [names], tasks [{name, stream, duration, after: [names]}]\n";
  }
  if (topic == "exit-codes") {
    return "0 success\n1 internal error (a bug: please report it)\n2 bad input or usage\n"
           "3 simulation did not finish (stalled, or --time-limit, --max-events or --max-wall reached; the partial\n"
           "  report is still printed)\n";
  }
  throw core::InputError("describe: unknown topic '" + topic + "' (valid: units, workloads, exit-codes, topology, collective-points)");
}

std::string describe_topology(const std::string& file, const std::vector<std::string>& overrides) {
  const auto catalog = hardware::Catalog::load(hardware::Catalog::default_dir());
  const auto t = topology::load_topology(file, overrides, catalog);
  topology::Router router(t);
  return topology::format_summary(t, topology::summarize(t, router));
}

}  // namespace

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(err);
  spdlog::logger log("mfusim", sink);
  log.set_pattern("mfusim: %l: %v");
  log.set_level(spdlog::level::warn);

  CLI::App app{"mfusim: discrete-event simulator of distributed training clusters", "mfusim"};
  app.set_version_flag("--version", "mfusim " MFUSIM_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global flags (-v, --quiet) are accepted after the subcommand too
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "error: " + std::string(e.what()) + " (see mfusim --help)\n";
  });
  int verbosity = 0;
  bool quiet = false;
  app.add_flag("-v,--verbose", verbosity, "more log output on stderr (-vv for debug)");
  app.add_flag("-q,--quiet", quiet, "only errors on stderr");

  RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "simulate one scenario and print its result");
  run_cmd->add_option("scenario", run.scenario, "scenario YAML file")->required();
  run_cmd->add_option("--set", run.overrides, "override a scenario key before validation: key.path=value")
      ->type_name("KEY=VALUE");
  run_cmd->add_option("--json", run.json_path, "write the result as JSON to FILE ('-' for stdout)");
  run_cmd->add_option("--trace", run.trace_path, "write a Chrome/Perfetto trace to FILE");
  run_cmd->add_option("--timeline", run.timeline_path, "draw one pipeline's step as an SVG timeline in FILE");
  run_cmd->add_option("--timeline-ranks", run.timeline_ranks, "GPUs drawn by --timeline (default: one per pipeline stage)")
      ->delimiter(',');
  run_cmd->add_option("--dump-config", run.dump_config,
                      "write the fully resolved configuration (defaults included) to FILE ('-' for stdout)");
  run_cmd->add_option("--max-events", run.max_events, "stop after N events (exit code 3)");
  run_cmd->add_option("--time-limit", run.time_limit, "stop at this simulated time, e.g. 10ms (exit code 3)");
  run_cmd->add_option("--max-wall", run.max_wall, "stop after this many seconds of host time (exit code 3)")
      ->type_name("SECONDS");

  std::string topic;
  std::string describe_file;
  std::vector<std::string> describe_overrides;
  auto* describe_cmd =
      app.add_subcommand("describe", "explain inputs (units, workloads, exit-codes) or a topology file");
  describe_cmd->add_option("topic", topic, "units | workloads | exit-codes | topology | collective-points")->required();
  describe_cmd->add_option("file", describe_file, "the topology YAML file (describe topology FILE)");
  describe_cmd->add_option("--set", describe_overrides, "override a key before validation: key.path=value")
      ->type_name("KEY=VALUE");

  CollectiveCommandOptions collective_opts;
  auto* collective_cmd = add_collective_command(app, collective_opts);
  CompareOptions compare_opts;
  auto* compare_cmd = add_compare_command(app, compare_opts);
  SearchCommandOptions search_opts;
  auto* search_cmd = add_search_command(app, search_opts);

  ValidateOptions validate;
  auto* validate_cmd = app.add_subcommand("validate", "replay published training runs (published-runs/1) and report accuracy");
  validate_cmd->add_option("file", validate.file, "runs file, e.g. ../shared/validation/published-runs.yaml")->required();
  validate_cmd->add_option("--json", validate.json_path, "also write the results as JSON to FILE ('-' for stdout)");
  validate_cmd->add_option("--only", validate.only, "replay only these run ids")->delimiter(',');
  validate_cmd->add_option("--set", validate.overrides, "override a key of every run's generated scenario: key.path=value")
      ->type_name("KEY=VALUE");
  validate_cmd->add_option("--scenario", validate.scenario_out,
                           "write the scenario generated for the --only run to FILE ('-' for stdout) instead of replaying");
  SweepCommandOptions sweep_opts;
  auto* sweep_cmd = add_sweep_command(app, sweep_opts);


  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    return code == 0 ? kOk : kBadInput;
  }
  log.set_level(quiet ? spdlog::level::err
                      : verbosity >= 2 ? spdlog::level::debug
                                       : verbosity == 1 ? spdlog::level::info : spdlog::level::warn);
  try {
    if (run_cmd->parsed()) return command_run(run, out, log);
    if (validate_cmd->parsed()) return command_validate(validate, out);
    if (collective_cmd->parsed()) return run_collective_command(collective_opts, out, log);
    if (compare_cmd->parsed()) return run_compare_command(compare_opts, out, log);
    if (sweep_cmd->parsed()) return run_sweep_command(sweep_opts, out, err, quiet, log);
    if (search_cmd->parsed()) return run_search_command(search_opts, out, err);
    if (describe_cmd->parsed()) {
      if (topic == "collective-points") {
        if (describe_file.empty()) throw core::InputError("describe collective-points: give the file, e.g. tests/data/collective/nccl-points.yaml");
        out << collective::format_points(collective::load_collective_points(describe_file));
      } else if (topic == "topology") {
        if (describe_file.empty()) throw core::InputError("describe topology: give the topology file, e.g. topologies/dgx-h100-superpod.yaml");
        out << describe_topology(describe_file, describe_overrides);
      } else {
        out << describe(topic);
      }
      return kOk;
    }
    return kBadInput;
  } catch (const core::InputError& e) {
    err << "error: " << e.what() << "\n";
    return kBadInput;
  } catch (const core::SimulationError& e) {
    err << "simulation failed: " << e.what() << "\n";
    return kSimulationFailed;
  } catch (const std::exception& e) {
    err << "internal error: " << e.what() << "\n";
    return kInternalError;
  }
}

}  // namespace mfusim::cli
