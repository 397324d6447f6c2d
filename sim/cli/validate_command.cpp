#include "cli/validate_command.hpp"

#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/output.hpp"
#include "config/loader.hpp"
#include "config/overrides.hpp"
#include "core/error.hpp"
#include "scenario/published_runs.hpp"

namespace mfusim::cli {

int command_validate(const ValidateOptions& o, std::ostream& out) {
  if (!o.scenario_out.empty()) {
    if (o.only.size() != 1) throw core::InputError("--scenario needs exactly one run: add --only ID");
    auto node = scenario::published_run_scenario(o.file, o.only.front());
    for (const auto& ov : o.overrides) config::apply_override(node, ov);
    write_output(o.scenario_out, config::to_yaml(node), out, "the scenario");
    return 0;
  }
  const auto report = scenario::validate_published_runs(o.file, o.only, o.overrides);
  out << scenario::format_validation(report);
  if (!o.json_path.empty()) {
    nlohmann::ordered_json j;
    j["file"] = report.file;
    if (!o.overrides.empty()) j["overrides"] = o.overrides;
    j["runs"] = nlohmann::ordered_json::array();
    for (const auto& r : report.rows) {
      nlohmann::ordered_json x;
      x["id"] = r.id;
      x["confidence"] = r.confidence;
      x["status"] = r.status;
      x["reason"] = r.reason;
      x["measured_step_time_s"] = r.measured_step_time_s;
      if (r.status == "ok") {
        x["predicted_step_time_s"] = r.predicted_step_time_s;
        x["error_pct"] = r.error_pct;
        x["predicted_mfu"] = r.predicted_mfu;
        x["predicted_peak_memory_gib"] = r.predicted_peak_memory_gib;
        x["fits_in_memory"] = r.fits;
      } else {
        x["predicted_step_time_s"] = nullptr;
        x["error_pct"] = nullptr;
        x["predicted_mfu"] = nullptr;
      }
      if (r.measured_mfu) x["measured_mfu"] = *r.measured_mfu;
      if (r.measured_peak_memory_gib) {
        x["measured_peak_memory_gib"] = *r.measured_peak_memory_gib;
        if (r.status == "ok") x["memory_error_pct"] = 100.0 * (r.predicted_peak_memory_gib / *r.measured_peak_memory_gib - 1.0);
      }
      x["derived"] = r.derived;
      j["runs"].push_back(std::move(x));
    }
    j["simulated"] = report.simulated;
    j["mape_pct"] = report.mape_pct;
    j["median_abs_error_pct"] = report.median_abs_error_pct;
    j["max_abs_error_pct"] = report.max_abs_error_pct;
    write_output(o.json_path, j.dump(2) + "\n", out, "the JSON report");
  }
  return 0;
}

}  // namespace mfusim::cli
