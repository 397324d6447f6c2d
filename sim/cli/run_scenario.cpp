#include "cli/run_scenario.hpp"

#include <string>

#include "cli/training_summary.hpp"

namespace mfusim::cli {

report::RunSummary summarize(const scenario::Scenario& sc, const scenario::SimulationResult& r) {
  report::RunSummary s;
  s.scenario = sc.name;
  s.description = sc.description;
  s.source = sc.source;
  s.status = std::string(core::to_string(r.run.status));
  s.step_time_ps = r.step_time.ps();
  s.end_time_ps = r.run.end_time.ps();
  s.events = r.run.events;
  s.pending_items = r.run.pending_items;
  s.blocked = r.run.blocked;
  if (sc.pipeline) {
    s.metrics.push_back({"bubble_fraction", "bubble fraction", r.bubble_fraction, ""});
    s.metrics.push_back({"ideal_bubble_fraction", "ideal (p-1)/(m+p-1)", r.ideal_bubble_fraction, ""});
  }
  for (const auto& st : r.streams) s.streams.push_back({st.name, st.busy.ps(), st.utilization});
  if (sc.training) add_training_summary(sc, r, s);
  return s;
}

}  // namespace mfusim::cli
