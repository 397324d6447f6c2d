#include "collective/collective_points.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string_view>

#include "config/config_error.hpp"
#include "config/loader.hpp"
#include "config/reader.hpp"

namespace mfusim::collective {
namespace {

using config::Node;
using config::Reader;

constexpr std::array<std::string_view, 7> kOps{"allreduce", "allgather", "reducescatter", "alltoall",
                                               "broadcast", "sendrecv", "ep-dispatch-combine"};
constexpr std::array<std::string_view, 7> kAlgos{"default", "ring", "tree", "nvls", "nvlstree", "collnet", "pat"};

template <std::size_t N>
std::string one_of(const std::string& value, const std::array<std::string_view, N>& valid, Reader& r,
                   std::string_view key) {
  if (std::find(valid.begin(), valid.end(), value) != valid.end()) return value;
  std::string list;
  for (auto v : valid) list += (list.empty() ? "" : ", ") + std::string(v);
  r.fail(key, "unknown value '" + value + "'; valid: " + list);
}

void check_positive(Reader& r, std::string_view key, const std::vector<double>& values) {
  for (double v : values) {
    if (!(v > 0)) r.fail(key, "measured values must be greater than zero");
  }
}

// A mapping from a positive integer (GPU count, EP degree) to a positive measured value.
std::map<std::int64_t, double> by_count(Reader& r, std::string_view key) {
  std::map<std::int64_t, double> out;
  if (!r.has(key)) return out;
  Reader m = r.mapping(key);
  for (const auto& e : m.node().entries()) {
    const std::string path = m.path() + "." + e.key;
    const auto n = config::ValueCodec<std::int64_t>::decode(Node::scalar(e.key, e.key_mark), path);
    if (n < 1) throw config::ConfigError(e.key_mark, path, "keys must be positive whole numbers");
    const auto v = m.required<double>(e.key);
    if (!(v > 0)) m.fail(e.key, "measured values must be greater than zero");
    out[n] = v;
  }
  m.finish();
  return out;
}

MeasuredPoint read_point(Reader& r) {
  MeasuredPoint p;
  p.system = r.required<std::string>("system");
  p.source = r.required<std::string>("source");
  p.op = one_of(r.required<std::string>("op"), kOps, r, "op");
  if (r.has("algo")) p.algo = one_of(r.required<std::string>("algo"), kAlgos, r, "algo");
  if (r.has("gpus")) {
    const Node* g = &r.node().find("gpus")->value;
    p.gpus = g->is_sequence() ? r.list<std::int64_t>("gpus") : std::vector<std::int64_t>{r.required<std::int64_t>("gpus")};
    if (p.gpus.empty()) r.fail("gpus", "expected at least one GPU count");
    for (auto n : p.gpus) {
      if (n < 1 || n > (std::int64_t{1} << 20)) r.fail("gpus", std::to_string(n) + " is out of range (valid: 1 to 1048576)");
    }
  }
  p.nodes = r.maybe<std::int64_t>("nodes");
  if (p.nodes) {
    if (*p.nodes < 1) r.fail("nodes", "must be at least 1");
    if (!p.gpus.empty() && *p.nodes > *std::min_element(p.gpus.begin(), p.gpus.end())) {
      r.fail("nodes", std::to_string(*p.nodes) + " nodes for " + std::to_string(p.gpus.front()) +
                          " GPUs: a node holds at least one GPU");
    }
  }
  if (r.has("sizes_bytes")) {
    p.sizes_bytes = r.list<std::int64_t>("sizes_bytes");
    for (auto s : p.sizes_bytes) {
      if (s < 1) r.fail("sizes_bytes", "sizes must be at least 1 byte");
    }
  }
  const auto per_size = [&](std::string_view key, std::vector<double>& out) {
    if (!r.has(key)) return;
    out = r.list<double>(key);
    check_positive(r, key, out);
    if (out.size() != p.sizes_bytes.size()) {
      r.fail(key, std::to_string(out.size()) + " values for " + std::to_string(p.sizes_bytes.size()) +
                      " sizes in sizes_bytes (one value per size)");
    }
  };
  per_size("busbw_GBps", p.busbw_gbps);
  per_size("time_us", p.time_us);
  p.busbw_gbps_by_gpus = by_count(r, "busbw_GBps_by_gpus");
  for (const auto& [n, v] : p.busbw_gbps_by_gpus) {
    if (std::find(p.gpus.begin(), p.gpus.end(), n) == p.gpus.end()) {
      r.fail("busbw_GBps_by_gpus", "measured for " + std::to_string(n) + " GPUs, which `gpus` does not list");
    }
  }
  if (!p.busbw_gbps_by_gpus.empty() && p.sizes_bytes.size() != 1) {
    r.fail("busbw_GBps_by_gpus", "needs exactly one size in sizes_bytes");
  }
  if (r.has("busbw_GBps_per_nic")) {
    p.busbw_gbps_per_nic = r.list<double>("busbw_GBps_per_nic");
    check_positive(r, "busbw_GBps_per_nic", p.busbw_gbps_per_nic);
    if (p.busbw_gbps_per_nic.empty() || p.busbw_gbps_per_nic.size() > 2 ||
        p.busbw_gbps_per_nic.front() > p.busbw_gbps_per_nic.back()) {
      r.fail("busbw_GBps_per_nic", "expected one value or a range [low, high]");
    }
  }
  p.gbps_per_gpu_by_ep = by_count(r, "GBps_per_gpu_by_ep");
  p.rule = r.optional<std::string>("rule", "");
  p.tokens = r.maybe<std::int64_t>("tokens");
  p.hidden = r.maybe<std::int64_t>("hidden");
  p.top_k = r.maybe<std::int64_t>("top_k");
  for (const auto& [key, v] : {std::pair{"tokens", p.tokens}, std::pair{"hidden", p.hidden}, std::pair{"top_k", p.top_k}}) {
    if (v && *v < 1) r.fail(key, "must be at least 1");
  }
  p.note = r.optional<std::string>("note", "");
  r.finish();
  if (p.busbw_gbps.empty() && p.time_us.empty() && p.busbw_gbps_by_gpus.empty() && p.busbw_gbps_per_nic.empty() &&
      p.gbps_per_gpu_by_ep.empty() && p.rule.empty()) {
    r.fail_here("no measurement: give busbw_GBps or time_us (one per size), busbw_GBps_by_gpus, busbw_GBps_per_nic, "
                "GBps_per_gpu_by_ep or a rule");
  }
  if (!p.sizes_bytes.empty() && p.busbw_gbps.empty() && p.time_us.empty() && p.busbw_gbps_by_gpus.empty()) {
    r.fail("sizes_bytes", "sizes without measurements: give busbw_GBps or time_us, one value per size");
  }
  return p;
}

std::string join(const std::vector<std::int64_t>& v) {
  std::string s;
  for (auto x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

}  // namespace

MeasuredPoints load_collective_points(const std::filesystem::path& file) {
  MeasuredPoints out;
  out.file = file.string();
  const Node root = config::load_file(file);
  Reader r(root, "", nullptr);
  const auto schema = r.required<std::string>("schema");
  if (schema != "collective-points/1") {
    r.fail("schema", "unsupported schema '" + schema + "' (expected collective-points/1)");
  }
  auto points = r.mappings("points");
  r.finish();
  if (points.empty()) r.fail("points", "expected at least one point");
  for (auto& p : points) out.points.push_back(read_point(p));
  return out;
}

std::string format_points(const MeasuredPoints& points) {
  std::string out = points.file + ": " + std::to_string(points.points.size()) + " measured points\n";
  char line[512];
  for (const auto& p : points.points) {
    std::string what;
    if (!p.busbw_gbps.empty()) what = std::to_string(p.busbw_gbps.size()) + " busbw";
    if (!p.time_us.empty()) what = std::to_string(p.time_us.size()) + " latency";
    if (!p.busbw_gbps_by_gpus.empty()) what = std::to_string(p.busbw_gbps_by_gpus.size()) + " busbw by GPU count";
    if (!p.busbw_gbps_per_nic.empty()) what = "busbw per NIC";
    if (!p.gbps_per_gpu_by_ep.empty()) what = std::to_string(p.gbps_per_gpu_by_ep.size()) + " GB/s per GPU by EP";
    if (!p.rule.empty()) what = "rule";
    std::snprintf(line, sizeof line, "  %-40.40s %-20s %-9s %-10s %s\n", p.system.c_str(), p.op.c_str(),
                  p.algo.c_str(), p.gpus.empty() ? "-" : join(p.gpus).c_str(), what.c_str());
    out += line;
  }
  return out;
}

}  // namespace mfusim::collective
