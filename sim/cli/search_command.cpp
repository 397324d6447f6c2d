#include "cli/search_command.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <ostream>

#include "cli/output.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "core/unit_parser.hpp"
#include "scenario/plan_search.hpp"

namespace mfusim::cli {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string fixed(double v, int digits) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string pad(std::string s, std::size_t width, bool right = true) {
  if (s.size() >= width) return s;
  return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

}  // namespace

CLI::App* add_search_command(CLI::App& app, SearchCommandOptions& o) {
  auto* c =
      app.add_subcommand("search", "find the best parallel plan for the scenario's model, cluster and global batch");
  c->add_option("scenario", o.scenario, "training scenario YAML file (its plan is one candidate among many)")
      ->required();
  c->add_option("--top", o.top, "plans to list (default 10)");
  c->add_option("--csv", o.csv_path, "write every enumerated plan with its status and result to FILE ('-' for stdout)");
  c->add_option("--fix", o.fixes, "pin a plan key, e.g. parallel.tp=8 or training.recompute=full (repeatable)")
      ->type_name("KEY=VALUE");
  c->add_option("--set", o.overrides, "override a scenario key before the search: key.path=value")
      ->type_name("KEY=VALUE");
  c->add_option("--max-tp", o.max_tp, "largest tp (default: the GPUs of one NVLink domain)");
  c->add_option("--max-pp", o.max_pp, "largest pp (default: the layer count)");
  c->add_option("--max-cp", o.max_cp, "largest cp (default: seq / 1024 tokens per rank)");
  c->add_option("--max-virtual-stages", o.max_virtual_stages,
                "largest number of interleaved chunks per stage (default: no limit)");
  c->add_option("--min-micro-batch", o.min_micro_batch, "smallest micro-batch (default 1)");
  c->add_option("--max-micro-batch", o.max_micro_batch, "largest micro-batch (default 16)");
  c->add_option("--headroom", o.headroom,
                "memory to keep free on every GPU: a size (4GiB), 'usable' (the rated capacity less the GPU's measured usable "
                "memory: driver, CUDA context, libraries, NCCL) or usable+SIZE; plans must fit in the capacity minus this (default 0)")
      ->type_name("SIZE");
  c->add_option("--refine", o.refine, "re-simulate the best N at the scenario's fidelity (default 16)");
  c->add_option("--threads", o.threads, "worker threads (default: all cores)");
  c->add_flag("--no-bound", o.no_bound,
              "simulate every plan that fits (default: skip plans whose step-time lower bound exceeds the K-th best)");
  c->add_flag("--dry-run", o.dry_run, "enumerate and prune only: print the counts (and --csv) without simulating");
  c->add_flag("--progress", o.progress, "show the progress bar even when stderr is not a terminal");
  return c;
}

int run_search_command(const SearchCommandOptions& o, std::ostream& out, std::ostream& err) {
  if (o.top < 1) throw core::InputError("--top: must be at least 1");
  const auto t0 = std::chrono::steady_clock::now();
  scenario::SearchOptions so;
  so.fixes = o.fixes;
  so.overrides = o.overrides;
  so.max_tp = o.max_tp;
  so.max_pp = o.max_pp;
  so.max_cp = o.max_cp;
  so.max_virtual_stages = o.max_virtual_stages;
  so.min_micro_batch = o.min_micro_batch;
  so.max_micro_batch = o.max_micro_batch;
  if (!o.headroom.empty()) {
    // "usable" (the GPU's measured usable memory), a size, or "usable+SIZE".
    std::string size = o.headroom;
    if (size == "usable" || size.rfind("usable+", 0) == 0) {
      so.headroom_usable = true;
      size = size.size() > 6 ? size.substr(7) : std::string();
    }
    if (!size.empty()) {
      try {
        so.headroom_bytes = core::parse_bytes(size).as_double();
      } catch (const core::InputError& e) {
        throw core::InputError(std::string("--headroom: ") + e.what() + " (valid: a size such as 4GiB, usable, or usable+4GiB)");
      }
    }
  }
  so.refine = o.refine;
  so.threads = o.threads;
  so.dry_run = o.dry_run;
  so.bound = !o.no_bound;
  so.keep = o.top;
  const bool bar_on = o.progress || core::ProgressBar::stderr_is_terminal();
  std::unique_ptr<core::ProgressBar> bar;
  std::string bar_phase;
  so.progress = [&](std::string_view phase, std::size_t done, std::size_t total) {
    if (!bar || bar_phase != phase) {
      if (bar) bar->finish();
      bar_phase = std::string(phase);
      bar = std::make_unique<core::ProgressBar>(err, total, "search: " + bar_phase, bar_on);
    }
    bar->update(done);
  };
  const auto r = scenario::search_plans(o.scenario, so);
  if (bar) bar->finish();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const unsigned threads = o.threads > 0 ? o.threads : core::default_thread_count();

  if (!o.csv_path.empty()) {
    write_output(o.csv_path, scenario::search_csv(r), out, "the CSV");
  }
  char line[256];
  std::snprintf(line, sizeof line, "search: %zu plans in %.2f s on %u thread%s\n", r.enumerated, wall, threads,
                threads == 1 ? "" : "s");
  if (o.dry_run) {
    out << "dry run    " << r.enumerated << " plans enumerated: " << r.invalid << " invalid, " << r.out_of_memory
        << " out of memory, " << r.dominated << " dominated, "
        << (r.enumerated - r.invalid - r.out_of_memory - r.dominated) << " to simulate\n";
    err << line;
    return 0;
  }
  if (r.ranking.empty()) {
    throw core::InputError(o.scenario + ": " + scenario::nothing_feasible_message(r));
  }
  if (o.csv_path == "-") {
    err << line;
    return 0;
  }

  out << "search     " << r.scenario << " (" << o.scenario << "), " << r.gpus << " GPUs, "
      << fixed(r.memory_capacity / kGiB, 1) << " GiB per GPU";
  if (r.headroom_bytes > 0.0)
    out << " (" << fixed((r.memory_capacity - r.headroom_bytes) / kGiB, 1) << " usable: --headroom)";
  out << "\n";
  out << "plans      " << r.enumerated << " enumerated: " << r.invalid << " invalid, " << r.out_of_memory
      << " out of memory, " << r.dominated << " dominated (more recomputation than needed), " << r.simulated
      << " simulated (" << r.simulations << " step simulations, analytical collectives), " << r.pruned
      << " pruned by the step-time lower bound, " << r.refined << " re-simulated"
      << (r.refine_fidelity == scenario::Fidelity::kFlow ? " (flow collectives)"
                                                         : " (the scenario's fidelity is analytical)");
  if (r.errors > 0) out << ", " << r.errors << " failed";
  out << "\n\n";

  // Breakdown columns shown: those non-zero in some listed plan.
  struct Column {
    const char* title;
    double (*get)(const workload::StepBreakdown&);
  };
  static const Column kColumns[] = {
      {"compute", [](const workload::StepBreakdown& b) { return b.compute.seconds(); }},
      {"recomp", [](const workload::StepBreakdown& b) { return b.recompute.seconds(); }},
      {"tp comm",
       [](const workload::StepBreakdown& b) {
         auto i = b.exposed.find(workload::Dim::kTp);
         return i == b.exposed.end() ? 0.0 : i->second.seconds();
       }},
      {"cp comm",
       [](const workload::StepBreakdown& b) {
         auto i = b.exposed.find(workload::Dim::kCp);
         return i == b.exposed.end() ? 0.0 : i->second.seconds();
       }},
      {"ep comm",
       [](const workload::StepBreakdown& b) {
         auto i = b.exposed.find(workload::Dim::kEp);
         return i == b.exposed.end() ? 0.0 : i->second.seconds();
       }},
      {"pp comm",
       [](const workload::StepBreakdown& b) {
         auto i = b.exposed.find(workload::Dim::kPp);
         return i == b.exposed.end() ? 0.0 : i->second.seconds();
       }},
      {"dp comm",
       [](const workload::StepBreakdown& b) {
         auto i = b.exposed.find(workload::Dim::kDp);
         return i == b.exposed.end() ? 0.0 : i->second.seconds();
       }},
      {"bubble", [](const workload::StepBreakdown& b) { return b.bubble.seconds(); }},
      {"optim", [](const workload::StepBreakdown& b) { return b.optimizer.seconds(); }},
      {"other", [](const workload::StepBreakdown& b) { return b.other.seconds(); }},
  };
  const std::size_t shown = std::min(o.top, r.ranking.size());
  std::vector<const Column*> columns;
  for (const auto& c : kColumns) {
    for (std::size_t k = 0; k < shown; ++k) {
      if (c.get(r.plans[r.ranking[k]].breakdown) != 0.0) {
        columns.push_back(&c);
        break;
      }
    }
  }
  std::size_t name_width = 4;
  for (std::size_t k = 0; k < shown; ++k) name_width = std::max(name_width, r.plans[r.ranking[k]].name.size());
  std::string header =
      pad("#", 4) + "  " + pad("plan", name_width, false) + pad("step s", 9) + pad("MFU", 7) + pad("mem GiB", 8);
  for (const auto* c : columns) header += pad(c->title, 9);
  out << header << "\n";
  for (std::size_t k = 0; k < shown; ++k) {
    const auto& e = r.plans[r.ranking[k]];
    std::string row = pad(std::to_string(k + 1), 4) + "  " + pad(e.name, name_width, false) +
                      pad(fixed(e.step_time.seconds(), 3), 9) + pad(fixed(e.mfu, 3), 7) +
                      pad(fixed(e.peak_memory_bytes / kGiB, 1), 8);
    for (const auto* c : columns) row += pad(fixed(c->get(e.breakdown), 3), 9);
    out << row << (e.refined ? "" : (r.refined > 0 ? "  (analytical)" : ""))
        << (e.scenario_plan ? "  <- scenario's plan" : "") << "\n";
  }
  out << "breakdown: seconds on the bottleneck stage; comm = exposed communication; MFU in Megatron's FLOP "
         "convention\n\n";

  if (r.scenario_plan) {
    const auto& e = r.plans[*r.scenario_plan];
    out << "scenario's plan  " << e.name << ": ";
    if (e.status == scenario::PlanStatus::kOk) {
      out << "rank " << e.rank << " of " << r.ranking.size() << " simulated";
      if (r.pruned_maybe_before_scenario_plan > 0)
        out << " (at most " << e.rank + r.pruned_maybe_before_scenario_plan << " counting the "
            << r.pruned_maybe_before_scenario_plan << " pruned plans whose bound is below its time)";
      out << ", " << fixed(e.step_time.seconds(), 3) << " s, MFU " << fixed(e.mfu, 3) << "\n";
    } else {
      out << scenario::to_string(e.status) << ": " << e.reason << "\n";
    }
  }
  if (r.ranking.size() >= 2) {
    out << "why        " << scenario::explain_win(r.plans[r.ranking[0]], r.plans[r.ranking[1]]) << "\n";
  }
  out << "run it     mfusim run " << o.scenario;
  for (const auto& s : o.overrides) out << " --set " << s;
  for (const auto& s : scenario::plan_overrides(r.plans[r.ranking[0]].candidate, r.moe)) out << " --set " << s;
  out << "\n";
  err << line;
  return 0;
}

}  // namespace mfusim::cli
