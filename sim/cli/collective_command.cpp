#include "cli/collective_command.hpp"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/output.hpp"
#include "cli/app.hpp"
#include "collective/analytical_collectives.hpp"
#include "collective/collective_model.hpp"
#include "collective/communicator.hpp"
#include "collective/cost_model.hpp"
#include "collective/flow_collectives.hpp"
#include "collective/types.hpp"
#include "core/engine.hpp"
#include "core/error.hpp"
#include "core/unit_parser.hpp"
#include "hardware/catalog.hpp"
#include "network/flow_network.hpp"
#include "network/topology_fabric.hpp"
#include "topology/cluster_builder.hpp"
#include "topology/router.hpp"

namespace mfusim::cli {
namespace {

using collective::CollectiveOp;

// Most rows one sweep may print (2^0 .. 2^63 is 64 sizes at factor 2).
constexpr std::size_t kMaxRows = 64;
// nccl-tests reports float elements (4 bytes).
constexpr std::int64_t kElementBytes = 4;

template <class F>
auto with_prefix(const std::string& prefix, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const core::InputError& e) {
    throw core::InputError(prefix + ": " + e.what());
  }
}

std::vector<topology::GpuIndex> parse_ranks(const std::string& text, std::size_t gpu_count) {
  std::vector<topology::GpuIndex> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || v < 0) {
      throw core::InputError("--ranks: '" + item + "' is not a GPU index (write e.g. --ranks 0,8,16)");
    }
    if (static_cast<unsigned long long>(v) >= gpu_count) {
      throw core::InputError("--ranks: GPU " + item + " is not in the topology (valid: 0 to " +
                             std::to_string(gpu_count - 1) + ")");
    }
    out.push_back(static_cast<topology::GpuIndex>(v));
  }
  if (out.empty()) throw core::InputError("--ranks: give at least one GPU index (e.g. --ranks 0,8,16)");
  return out;
}

std::string fixed(double v, int precision) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", precision, v);
  return buf;
}

std::string pad(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

struct Row {
  std::int64_t size = 0;
  double time_us = 0;
  double algbw = 0;
  double busbw = 0;
  collective::CollectivePlan plan;
};

}  // namespace

CLI::App* add_collective_command(CLI::App& app, CollectiveCommandOptions& o) {
  auto* c = app.add_subcommand("collective", "nccl-tests-style collective microbenchmark on a topology");
  c->add_option("--topology", o.topology, "topology YAML file")->required();
  c->add_option("--set", o.overrides, "override a topology key before validation: key.path=value")
      ->type_name("KEY=VALUE");
  c->add_option("--op", o.op,
                "all-reduce | all-gather | reduce-scatter | broadcast | reduce | all-to-all | all-to-allv | sendrecv");
  c->add_option("--gpus", o.gpus, "use the first N GPUs of the topology (default: all)");
  c->add_option("--ranks", o.ranks, "use these GPU indexes, e.g. 0,8,16,24");
  c->add_option("--min-bytes,--min", o.min_bytes, "smallest size, with unit (default 8B)");
  c->add_option("--max-bytes,--max", o.max_bytes, "largest size, with unit (default 1GiB)");
  c->add_option("--factor", o.factor, "size multiplication factor between rows (default 2)");
  c->add_option("--algorithm,--algo", o.algorithm, "like NCCL_ALGO: ring, tree, nvls, nvls_tree, collnet_direct, ...");
  c->add_option("--protocol,--proto", o.protocol, "like NCCL_PROTO: ll, ll128, simple (comma-separated)");
  c->add_option("--fidelity", o.fidelity, "analytical (closed form) | flow (transfers on the flow network)");
  c->add_option("--efficiency", o.efficiency, "calibrated (default) | none (NCCL's cost model unchanged)");
  c->add_option("--root", o.root, "root rank of broadcast / reduce (default 0)");
  c->add_flag("--collnet", o.collnet, "enable CollNet (IB SHARP), like NCCL_COLLNET_ENABLE=1");
  c->add_flag("--no-nvls", o.no_nvls, "disable NVLink SHARP, like NCCL_NVLS_ENABLE=0");
  c->add_option("--json", o.json_path, "also write the rows as JSON to FILE ('-' for stdout)");
  return c;
}

int run_collective_command(const CollectiveCommandOptions& o, std::ostream& out, spdlog::logger& log) {
  const CollectiveOp op = with_prefix("--op", [&] { return collective::parse_op(o.op, "collective"); });
  const collective::Fidelity fidelity =
      with_prefix("--fidelity", [&] { return collective::parse_fidelity(o.fidelity, "fidelity"); });
  collective::TuningOptions tuning;
  if (!o.algorithm.empty()) {
    tuning.selection.algorithms = with_prefix("--algorithm", [&] { return collective::parse_algorithms(o.algorithm); });
  }
  if (!o.protocol.empty()) {
    tuning.selection.protocols = with_prefix("--protocol", [&] { return collective::parse_protocols(o.protocol); });
  }
  tuning.collnet = o.collnet;
  tuning.nvls = !o.no_nvls;
  if (o.efficiency == "none") {
    tuning.efficiency = collective::EfficiencyCurve::none();
  } else if (o.efficiency != "calibrated") {
    throw core::InputError("--efficiency: unknown value '" + o.efficiency + "'; valid: calibrated, none");
  }
  const core::Bytes min_bytes = with_prefix("--min-bytes", [&] { return core::parse_bytes(o.min_bytes); });
  const core::Bytes max_bytes = with_prefix("--max-bytes", [&] { return core::parse_bytes(o.max_bytes); });
  if (min_bytes.count() < 1) throw core::InputError("--min-bytes: must be at least 1B");
  if (max_bytes < min_bytes) {
    throw core::InputError("--max-bytes: " + o.max_bytes + " is smaller than --min-bytes " + o.min_bytes);
  }
  if (o.factor < 2 || o.factor > 1024)
    throw core::InputError("--factor: " + std::to_string(o.factor) + " is out of range (valid: 2 to 1024)");
  if (o.gpus && !o.ranks.empty()) throw core::InputError("give either --gpus or --ranks, not both");

  const auto catalog = hardware::Catalog::load(hardware::Catalog::default_dir());
  const topology::Topology topo = topology::load_topology(o.topology, o.overrides, catalog);
  std::vector<topology::GpuIndex> gpus;
  if (!o.ranks.empty()) {
    gpus = parse_ranks(o.ranks, topo.gpu_count());
  } else {
    const std::int64_t n = o.gpus ? *o.gpus : static_cast<std::int64_t>(topo.gpu_count());
    if (n < 1 || static_cast<std::size_t>(n) > topo.gpu_count()) {
      throw core::InputError("--gpus: " + std::to_string(n) + " GPUs requested but topology '" + topo.name + "' has " +
                             std::to_string(topo.gpu_count()) + " (valid: 1 to " + std::to_string(topo.gpu_count()) +
                             ")");
    }
    for (std::int64_t i = 0; i < n; ++i) gpus.push_back(static_cast<topology::GpuIndex>(i));
  }
  const collective::Communicator comm(topo, gpus);
  const std::size_t n = comm.size();
  if (collective::has_root(op) && (o.root < 0 || static_cast<std::size_t>(o.root) >= n)) {
    throw core::InputError("--root: rank " + std::to_string(o.root) + " is outside the communicator (valid: 0 to " +
                           std::to_string(n - 1) + ")");
  }

  core::Engine engine;
  std::unique_ptr<topology::Router> router;
  std::unique_ptr<network::TopologyFabric> fabric;
  std::unique_ptr<network::FlowNetwork> network;
  std::unique_ptr<collective::CollectiveModel> model;
  const collective::CostModel cost_model(tuning);
  if (fidelity == collective::Fidelity::kFlow) {
    router = std::make_unique<topology::Router>(topo);
    fabric = std::make_unique<network::TopologyFabric>(topo, *router);
    network = std::make_unique<network::FlowNetwork>(engine, *fabric);
    engine.add_pending_source(*network);
    model = std::make_unique<collective::FlowCollectives>(engine, topo, *network, *fabric, cost_model);
  } else {
    model = std::make_unique<collective::AnalyticalCollectives>(engine, topo, cost_model);
  }
  engine.add_pending_source(*model);

  // Sizes: min, min x f, ... <= max; per-rank chunks of AG/RS/all-to-all are whole elements.
  const bool per_rank = op == CollectiveOp::kAllGather || op == CollectiveOp::kReduceScatter ||
                        op == CollectiveOp::kAllToAll || op == CollectiveOp::kAllToAllV;
  const std::int64_t align = per_rank ? kElementBytes * static_cast<std::int64_t>(n) : 1;
  std::vector<std::int64_t> sizes;
  for (std::int64_t s = min_bytes.count(); s <= max_bytes.count(); s *= o.factor) {
    sizes.push_back(s / align * align);
    if (sizes.size() >= kMaxRows || s > max_bytes.count() / o.factor) break;
  }

  const auto wall_start = std::chrono::steady_clock::now();
  std::vector<Row> rows;
  for (const std::int64_t size : sizes) {
    Row row;
    row.size = size;
    std::vector<collective::CollectiveCall> calls;
    collective::CollectiveCall call;
    call.op = op;
    call.bytes = core::Bytes(size);
    call.root = static_cast<collective::Rank>(o.root);
    if (op == CollectiveOp::kSendRecv) {
      for (collective::Rank r = 0; r < n && n > 1; ++r) {
        call.root = r;
        call.peer = static_cast<collective::Rank>((r + 1) % n);
        calls.push_back(call);
      }
      if (calls.empty()) calls.push_back(call);  // one rank: to itself
    } else {
      if (op == CollectiveOp::kAllToAllV) {
        call.pair_bytes.assign(n * n, core::Bytes(size / static_cast<std::int64_t>(n)));
      }
      calls.push_back(call);
    }
    const core::SimTime t0 = engine.now();
    core::SimTime end = t0;
    bool have_plan = false;
    for (const auto& c : calls) {
      model->start(comm, c, [&](const collective::CollectiveResult& r) {
        end = std::max(end, r.end);
        if (!have_plan) {
          row.plan = r.plan;
          have_plan = true;
        }
      });
    }
    const core::RunResult result = engine.run();
    if (result.status != core::RunStatus::kCompleted) {
      throw core::SimulationError("collective at " + std::to_string(size) +
                                  " B did not complete: " + std::string(core::to_string(result.status)));
    }
    row.time_us = (end - t0).seconds() * 1e6;
    const double seconds = (end - t0).seconds();
    row.algbw = seconds > 0 ? static_cast<double>(size) / seconds / 1e9 : 0.0;
    row.busbw = row.algbw * collective::bus_bandwidth_factor(op, n);
    rows.push_back(row);
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  log.info("simulated {} sizes at {} fidelity in {:.3f} s of host time ({} engine events)", rows.size(),
           collective::to_string(fidelity), wall, engine.events_executed());

  const auto& g = comm.graph();
  std::string text;
  text += "# mfusim collective: " + std::string(collective::to_string(op)) + " on " + comm.describe() + " of '" +
          topo.name + "' (" + topo.gpu_spec->name + "), fidelity " + std::string(collective::to_string(fidelity)) +
          "\n";
  text += "# NCCL " + tuning.constants.nccl_version + " cost model: " + std::to_string(g.channels) + " channels x " +
          fixed(g.bw_intra, 1) + " GB/s" +
          (comm.node_count() > 1
               ? " (" + std::to_string(g.nics_per_node) + " NICs x " + fixed(g.nic_bandwidth, 1) + " GB/s per node)"
               : std::string()) +
          ", " + std::to_string(g.ctas) + " CTAs" +
          (g.nvls ? "; NVLS " + std::to_string(g.nvls_heads) + " heads x " + fixed(g.nvls_speed, 1) + " GB/s"
                  : std::string()) +
          (o.efficiency == "none" ? "; efficiency: none" : "; efficiency: calibrated") + "\n";
  for (const auto& note : topo.notes) text += "# note: " + note + "\n";
  text += "#\n";
  text += "#" + pad("size", 11) + pad("count", 14) + pad("type", 10) + pad("redop", 8) + pad("root", 8) +
          pad("time", 12) + pad("algbw", 9) + pad("busbw", 9) + pad("algorithm", 16) + pad("protocol", 10) +
          pad("channels", 10) + "\n";
  text += "#" + pad("(B)", 11) + pad("(elements)", 14) + pad("", 10) + pad("", 8) + pad("", 8) + pad("(us)", 12) +
          pad("(GB/s)", 9) + pad("(GB/s)", 9) + "\n";
  const std::string redop = collective::is_reduction(op) ? "sum" : "none";
  const std::string root = collective::has_root(op) ? std::to_string(o.root) : "-1";
  double busbw_sum = 0;
  for (const auto& r : rows) {
    text += " " + pad(std::to_string(r.size), 11) + pad(std::to_string(r.size / kElementBytes), 14) + pad("float", 10) +
            pad(redop, 8) + pad(root, 8) + pad(fixed(r.time_us, 2), 12) + pad(fixed(r.algbw, 2), 9) +
            pad(fixed(r.busbw, 2), 9) + pad(std::string(collective::to_string(r.plan.algorithm)), 16) +
            pad(std::string(collective::to_string(r.plan.protocol)), 10) + pad(std::to_string(r.plan.channels), 10) +
            "\n";
    busbw_sum += r.busbw;
  }
  text +=
      "# Avg bus bandwidth    : " + fixed(rows.empty() ? 0.0 : busbw_sum / static_cast<double>(rows.size()), 3) + "\n";
  if (o.json_path != "-") out << text;

  if (!o.json_path.empty()) {
    std::string json = "[\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      json += "  {\"size_bytes\": " + std::to_string(r.size) + ", \"time_us\": " + fixed(r.time_us, 3) +
              ", \"algbw_GBps\": " + fixed(r.algbw, 3) + ", \"busbw_GBps\": " + fixed(r.busbw, 3) + ", \"algo\": \"" +
              std::string(collective::to_string(r.plan.algorithm)) + "\", \"proto\": \"" +
              std::string(collective::to_string(r.plan.protocol)) + "\"}" + (i + 1 < rows.size() ? "," : "") + "\n";
    }
    json += "]\n";
    write_output(o.json_path, json, out, "the JSON");
  }
  return kOk;
}

}  // namespace mfusim::cli
