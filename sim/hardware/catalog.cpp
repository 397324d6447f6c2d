#include "hardware/catalog.hpp"

#include <array>

#include "config/loader.hpp"
#include "config/reader.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"

#ifndef MFUSIM_SOURCE_DIR
#error "MFUSIM_SOURCE_DIR must be defined by the build"
#endif

namespace mfusim::hardware {
namespace {

using config::Reader;

constexpr std::string_view kSchema = "mfusim-hardware/1";

void check_schema(Reader& r) {
  const auto schema = r.required<std::string>("schema");
  if (schema != kSchema) r.fail("schema", "unsupported schema '" + schema + "' (this mfusim reads " + std::string(kSchema) + ")");
}

template <class Q>
Q positive(Reader& r, std::string_view key) {
  const Q q = r.required<Q>(key);
  if (!(q.value() > 0)) r.fail(key, "must be greater than zero");
  return q;
}

int positive_int(Reader& r, std::string_view key) {
  const int v = r.required<int>(key);
  if (v < 1) r.fail(key, std::to_string(v) + " must be at least 1");
  return v;
}

std::vector<std::string> sources(Reader& r) {
  auto s = r.list<std::string>("sources");
  if (s.empty()) r.fail("sources", "every catalog entry must cite at least one source");
  return s;
}

GpuSpec read_gpu(Reader& r) {
  GpuSpec g;
  g.name = r.required<std::string>("name");
  g.vendor = r.required<std::string>("vendor");
  g.architecture = r.required<std::string>("architecture");
  g.sm_count = positive_int(r, "sm_count");
  Reader p = r.mapping("peak_dense");
  g.peak_fp64 = p.maybe<core::FlopRate>("fp64");
  g.peak_fp32 = p.maybe<core::FlopRate>("fp32");
  g.peak_tf32 = p.maybe<core::FlopRate>("tf32");
  g.peak_bf16 = p.maybe<core::FlopRate>("bf16");
  g.peak_fp16 = p.maybe<core::FlopRate>("fp16");
  g.peak_fp8 = p.maybe<core::FlopRate>("fp8");
  if (!g.peak_bf16) p.fail_here("peak_dense.bf16 is required (the dtype every training plan can use)");
  p.finish();
  g.hbm_capacity = r.required<core::Bytes>("hbm_capacity");
  if (g.hbm_capacity.count() <= 0) r.fail("hbm_capacity", "must be greater than zero");
  g.usable_memory = r.maybe<core::Bytes>("usable_memory");
  if (g.usable_memory && (g.usable_memory->count() <= 0 || g.usable_memory->count() > g.hbm_capacity.count())) {
    r.fail("usable_memory", "must be greater than zero and at most hbm_capacity (" + std::to_string(g.hbm_capacity.count()) + " B)");
  }
  g.hbm_bandwidth = positive<core::Bandwidth>(r, "hbm_bandwidth");
  Reader s = r.mapping("scale_up");
  g.scale_up.kind = s.required<std::string>("kind");
  g.scale_up.links = positive_int(s, "links");
  g.scale_up.bandwidth_per_direction = positive<core::Bandwidth>(s, "bandwidth_per_direction");
  g.scale_up.nvls = s.required<bool>("nvls");
  s.finish();
  g.tdp = positive<core::Power>(r, "tdp");
  g.idle_power = r.maybe<core::Power>("idle_power");
  g.busy_power = r.maybe<core::Power>("busy_power");
  if (g.busy_power && g.busy_power->value() > g.tdp.value()) r.fail("busy_power", "is above the tdp");
  if (g.idle_power && g.busy_power && g.idle_power->value() > g.busy_power->value()) {
    r.fail("idle_power", "is above busy_power");
  }
  g.sources = sources(r);
  r.maybe<std::string>("note");
  r.finish();
  return g;
}

NicSpec read_nic(Reader& r) {
  NicSpec n;
  n.name = r.required<std::string>("name");
  n.protocol = r.required<std::string>("protocol");
  n.port_bandwidth = positive<core::Bandwidth>(r, "port_bandwidth");
  n.latency = r.maybe<core::Duration>("latency");
  n.power = r.maybe<core::Power>("power");
  n.sources = sources(r);
  r.maybe<std::string>("note");
  r.finish();
  return n;
}

SwitchSpec read_switch(Reader& r) {
  SwitchSpec s;
  s.name = r.required<std::string>("name");
  s.kind = r.required<std::string>("kind");
  s.radix = positive_int(r, "radix");
  s.port_bandwidth = positive<core::Bandwidth>(r, "port_bandwidth");
  s.latency = r.maybe<core::Duration>("latency");
  s.power = r.maybe<core::Power>("power");
  s.sharp = r.required<bool>("sharp");
  s.sources = sources(r);
  r.maybe<std::string>("note");
  r.finish();
  return s;
}

NodeSpec read_node(Reader& r) {
  NodeSpec n;
  n.name = r.required<std::string>("name");
  n.gpu = r.required<std::string>("gpu");
  n.gpus = positive_int(r, "gpus");
  n.nvswitch = r.optional<std::string>("nvswitch", "");
  n.nic = r.required<std::string>("nic");
  n.nics = positive_int(r, "nics");
  n.sources = sources(r);
  r.maybe<std::string>("note");
  r.finish();
  return n;
}

template <class T>
const T* find_by_name(const std::vector<T>& items, std::string_view name) {
  for (const auto& i : items) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

template <class T>
const T& get_by_name(const std::vector<T>& items, std::string_view name, const char* what) {
  if (const T* t = find_by_name(items, name)) return *t;
  std::vector<std::string> names;
  for (const auto& i : items) names.push_back(i.name);
  std::string message = "unknown " + std::string(what) + " '" + std::string(name) + "'";
  if (auto m = core::closest_match(name, names)) message += " (did you mean '" + *m + "'?)";
  throw core::InputError(message + "; the catalog has: " + core::join(names));
}

template <class T>
void check_unique(const std::vector<T>& items, const config::Node& root, const char* list_key) {
  const auto& list = root.find(list_key)->value.items();
  for (std::size_t i = 0; i < items.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (items[i].name == items[j].name) {
        throw config::ConfigError(list[i].mark(), std::string(list_key) + "[" + std::to_string(i) + "].name",
                                  "'" + items[i].name + "' is already defined at line " +
                                      std::to_string(list[j].mark().line));
      }
    }
  }
}

}  // namespace

std::string_view to_string(Dtype d) {
  switch (d) {
    case Dtype::kFp64: return "fp64";
    case Dtype::kFp32: return "fp32";
    case Dtype::kTf32: return "tf32";
    case Dtype::kBf16: return "bf16";
    case Dtype::kFp16: return "fp16";
    case Dtype::kFp8: return "fp8";
  }
  return "?";
}

std::optional<core::FlopRate> GpuSpec::peak(Dtype d) const {
  switch (d) {
    case Dtype::kFp64: return peak_fp64;
    case Dtype::kFp32: return peak_fp32;
    case Dtype::kTf32: return peak_tf32;
    case Dtype::kBf16: return peak_bf16;
    case Dtype::kFp16: return peak_fp16;
    case Dtype::kFp8: return peak_fp8;
  }
  return std::nullopt;
}

const std::filesystem::path& Catalog::default_dir() {
  static const std::filesystem::path kDir = std::filesystem::path(MFUSIM_SOURCE_DIR) / "topologies" / "hardware";
  return kDir;
}

namespace {

// One catalog file: `schema`, then a list under `key` read entry by entry, names unique. Returns the
// tree and the entry readers too, for checks that need every file loaded first.
template <class T, class Read>
void load_list(const std::filesystem::path& file, const char* key, Read read, std::vector<T>& out, config::Node& root,
               std::vector<Reader>* readers = nullptr) {
  root = config::load_file(file);
  Reader r(root, "", nullptr);
  check_schema(r);
  auto entries = r.mappings(key);
  for (auto& e : entries) out.push_back(read(e));
  r.finish();
  check_unique(out, root, key);
  if (readers != nullptr) *readers = std::move(entries);
}

}  // namespace

Catalog Catalog::load(const std::filesystem::path& dir) {
  Catalog c;
  config::Node gpus, nics, switches, nodes;
  load_list(dir / "gpus.yaml", "gpus", read_gpu, c.gpus_, gpus);
  load_list(dir / "nics.yaml", "nics", read_nic, c.nics_, nics);
  load_list(dir / "switches.yaml", "switches", read_switch, c.switches_, switches);
  std::vector<Reader> readers;
  load_list(dir / "nodes.yaml", "nodes", read_node, c.nodes_, nodes, &readers);
  // Cross-references must resolve now, not when a topology first uses the node kind.
  for (std::size_t i = 0; i < c.nodes_.size(); ++i) {
    const NodeSpec& n = c.nodes_[i];
    try {
      c.gpu(n.gpu);
      c.nic(n.nic);
      if (!n.nvswitch.empty()) c.switch_spec(n.nvswitch);
    } catch (const core::InputError& e) {
      readers[i].fail_here(e.what());
    }
    if (n.gpus % n.nics != 0 && n.nics % n.gpus != 0) {
      readers[i].fail("nics", std::to_string(n.nics) + " NICs cannot be spread evenly over " + std::to_string(n.gpus) + " GPUs");
    }
  }
  return c;
}

const GpuSpec* Catalog::find_gpu(std::string_view name) const { return find_by_name(gpus_, name); }
const NicSpec* Catalog::find_nic(std::string_view name) const { return find_by_name(nics_, name); }
const SwitchSpec* Catalog::find_switch(std::string_view name) const { return find_by_name(switches_, name); }
const GpuSpec& Catalog::gpu(std::string_view name) const { return get_by_name(gpus_, name, "GPU"); }
const NicSpec& Catalog::nic(std::string_view name) const { return get_by_name(nics_, name, "NIC"); }
const NodeSpec& Catalog::node(std::string_view name) const { return get_by_name(nodes_, name, "node kind"); }
const SwitchSpec& Catalog::switch_spec(std::string_view name) const { return get_by_name(switches_, name, "switch"); }

}  // namespace mfusim::hardware
