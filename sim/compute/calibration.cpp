#include "compute/calibration.hpp"

#include "config/loader.hpp"
#include "config/reader.hpp"

namespace mfusim::compute {
namespace {

using config::Reader;

double positive(Reader& r, std::string_view key) {
  const double v = r.required<double>(key);
  if (!(v > 0)) r.fail(key, "must be greater than zero");
  return v;
}

MemoryOpClass classify(const std::string& op) {
  if (op.find("norm") != std::string::npos) return MemoryOpClass::kNorm;
  if (op.find("softmax") != std::string::npos) return MemoryOpClass::kSoftmax;
  if (op.find("copy") != std::string::npos) return MemoryOpClass::kCopy;
  return MemoryOpClass::kElementwise;
}

void read_gemms(Reader& r, std::string_view key, std::vector<GemmPoint>& out) {
  for (auto& p : r.mappings(key)) {
    GemmPoint g{positive(p, "m"), positive(p, "n"), positive(p, "k"), 0.0};
    g.efficiency = positive(p, "efficiency");
    // Informational fields of the measurement.
    p.maybe<double>("time_us");
    p.maybe<double>("tflops");
    p.maybe<std::string>("note");
    p.finish();
    out.push_back(g);
  }
}

}  // namespace

CalibrationTables CalibrationTables::load(const std::filesystem::path& file) {
  const config::Node root = config::load_file(file);
  Reader r(root, "", nullptr);
  CalibrationTables t;
  t.source = file.string();
  const auto schema = r.required<std::string>("schema");
  if (schema != "mfusim-calibration/1") r.fail("schema", "unsupported schema '" + schema + "' (expected mfusim-calibration/1)");
  t.gpu = r.required<std::string>("gpu");
  if (auto m = r.maybe_mapping("measured_on")) {
    t.measured_on = m->optional<std::string>("device_name", "");
    for (const auto& e : root.find("measured_on")->value.entries()) m->has(e.key);  // free-form provenance
    m->finish();
  }
  if (auto p = r.maybe_mapping("peak_reference_tflops")) {
    t.peak_reference_bf16_tflops = p->optional<double>("bf16", 0.0);
    t.peak_reference_fp8_tflops = p->optional<double>("fp8", 0.0);
    p->finish();
  }
  {
    Reader g = r.mapping("gemm");
    read_gemms(g, "bf16", t.gemm_bf16);
    if (g.has("fp8")) read_gemms(g, "fp8", t.gemm_fp8);
    g.finish();
  }
  if (t.gemm_bf16.empty()) r.fail("gemm", "at least one bf16 GEMM measurement is required");
  // `attention`: the flash backend's table; `attention_cudnn` (optional): the same cases through cuDNN's
  // fused attention, which Transformer Engine selects on Hopper (training.attention: cudnn).
  for (const bool cudnn : {false, true}) {
    const char* section = cudnn ? "attention_cudnn" : "attention";
    if (cudnn && !r.has(section)) continue;  // `attention` is required: mappings() reports it missing
    auto& into = cudnn ? t.attention_cudnn : t.attention;
    for (auto& a : r.mappings(section)) {
      AttentionPoint p{};
      const auto pass = a.required<std::string>("pass");
      if (pass != "fwd" && pass != "bwd") a.fail("pass", "'" + pass + "' is not a pass (valid: fwd, bwd)");
      p.backward = pass == "bwd";
      p.seq = positive(a, "seq");
      p.head_dim = positive(a, "head_dim");
      p.efficiency = positive(a, "efficiency");
      a.maybe<double>("batch_heads");
      p.causal = a.optional<bool>("causal", true);
      a.maybe<double>("time_us");
      a.maybe<double>("tflops");
      a.maybe<std::string>("note");
      a.finish();
      into.push_back(p);
    }
  }
  for (auto& m : r.mappings("memory_bound")) {
    BandwidthPoint p{};
    p.op_class = classify(m.required<std::string>("op"));
    p.bytes = positive(m, "bytes");
    p.bytes_per_second = positive(m, "gbps") * 1e9;
    m.maybe<double>("time_us");
    m.maybe<double>("efficiency");
    m.maybe<std::string>("note");
    m.finish();
    t.memory_bound.push_back(p);
  }
  if (r.has("optimizer")) {
    for (auto& m : r.mappings("optimizer")) {
      BandwidthPoint p{};
      m.required<std::string>("op");
      m.maybe<double>("params");
      p.bytes = positive(m, "bytes");
      p.bytes_per_second = positive(m, "gbps") * 1e9;
      m.maybe<double>("time_us");
      m.maybe<std::string>("note");
      m.finish();
      t.optimizer.push_back(p);
    }
  }
  {
    Reader l = r.mapping("launch_overhead_us");
    t.launch_overhead_us = positive(l, "eager");
    l.maybe<double>("cuda_graph");
    l.finish();
  }
  // Optional power-limited throughput ceiling (schema mfusim-power-ceiling/1), measured separately from the tables.
  const auto sustained = file.parent_path() / "sustained.yaml";
  if (std::filesystem::exists(sustained)) {
    const config::Node sroot = config::load_file(sustained);
    Reader s(sroot, "", nullptr);
    const auto sschema = s.required<std::string>("schema");
    if (sschema != "mfusim-power-ceiling/1") s.fail("schema", "unsupported schema '" + sschema + "' (expected mfusim-power-ceiling/1)");
    if (auto m = s.maybe_mapping("measured_on")) {
      for (const auto& e : sroot.find("measured_on")->value.entries()) m->has(e.key);  // free-form provenance
      m->finish();
    }
    // Each ceiling becomes an efficiency against the peak the tables' efficiencies are relative to.
    Reader f = s.mapping("power_limited_tflops");
    const auto ceiling = [&](std::string_view dtype, double peak) {
      const double tflops = positive(f, dtype);
      if (peak <= 0.0) {
        f.fail(dtype, "needs peak_reference_tflops." + std::string(dtype) + " in " + file.filename().string() +
                          " to turn the ceiling into an efficiency");
      }
      if (tflops > peak) {
        f.fail(dtype, "a sustained throughput ceiling cannot exceed the peak (" + std::to_string(peak) +
                          " TFLOP/s in peak_reference_tflops)");
      }
      return tflops / peak;
    };
    t.sustained_ceiling_bf16 = ceiling("bf16", t.peak_reference_bf16_tflops);
    if (f.has("fp8")) t.sustained_ceiling_fp8 = ceiling("fp8", t.peak_reference_fp8_tflops);
    f.finish();
    for (auto& c : s.mappings("chains")) {  // the measurements behind the figures, for the record
      c.required<std::string>("run");
      c.required<std::string>("chain");
      c.required<std::string>("dtype");
      positive(c, "isolated_us");
      positive(c, "sustained_us");
      positive(c, "ratio");
      positive(c, "sustained_tflops");
      c.maybe<double>("sustained_sm_clock_mhz");
      c.maybe<double>("sustained_power_w");
      c.finish();
    }
    s.finish();
    t.sustained_source = sustained.string();
  }
  r.maybe<std::string>("note");
  r.finish();
  return t;
}

}  // namespace mfusim::compute
