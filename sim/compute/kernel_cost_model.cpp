#include "compute/kernel_cost_model.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

#include "core/error.hpp"

#ifndef MFUSIM_SOURCE_DIR
#error "MFUSIM_SOURCE_DIR must be defined by the build"
#endif

namespace mfusim::compute {
namespace {

constexpr const char* kReferenceGpu = "H100-SXM5-80GB";

// Linear interpolation of y over log2(x) in sorted (x, y) points; clamped at both ends.
double interpolate_log2(const std::vector<std::pair<double, double>>& pts, double x) {
  MFUSIM_CHECK(!pts.empty(), "interpolation over an empty table");
  if (x <= pts.front().first) return pts.front().second;
  if (x >= pts.back().first) return pts.back().second;
  const auto hi = std::lower_bound(pts.begin(), pts.end(), x, [](const auto& p, double v) { return p.first < v; });
  const auto lo = hi - 1;
  const double t = (std::log2(x) - std::log2(lo->first)) / (std::log2(hi->first) - std::log2(lo->first));
  return lo->second + t * (hi->second - lo->second);
}

// Averages points with equal x, sorts by x.
std::vector<std::pair<double, double>> curve(const std::vector<std::pair<double, double>>& raw) {
  std::map<double, std::pair<double, int>> acc;
  for (const auto& [x, y] : raw) {
    acc[x].first += y;
    acc[x].second += 1;
  }
  std::vector<std::pair<double, double>> out;
  for (const auto& [x, s] : acc) out.emplace_back(x, s.first / s.second);
  return out;
}

}  // namespace

std::string calibration_dir_name(const std::string& gpu_name) {
  std::string s = gpu_name;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const std::filesystem::path& KernelCostModel::default_calibration_dir() {
  static const std::filesystem::path kDir = std::filesystem::path(MFUSIM_SOURCE_DIR) / "workloads" / "calibration";
  return kDir;
}

KernelCostModel::KernelCostModel(const hardware::GpuSpec& gpu, CalibrationTables tables, bool scaled, double hbm_ratio)
    : gpu_(gpu), tables_(std::move(tables)), scaled_(scaled), hbm_ratio_(hbm_ratio) {
  // Name the tables by their place in the repository, not by an absolute path (reports stay
  // identical across checkouts).
  const std::filesystem::path source(tables_.source);
  const std::string where = source.parent_path().filename().string() + "/" + source.filename().string();
  provenance_ = scaled_ ? "scaled from " + tables_.gpu + " tables (no measurements for " + gpu_.name + ")"
                        : "from the " + tables_.gpu + " tables (workloads/calibration/" + where + ")";
  if (!tables_.sustained_source.empty()) {
    const auto pct = [](double v) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * v);
      return std::string(buf);
    };
    provenance_ += "; tensor-core kernels at most " + pct(tables_.sustained_ceiling_bf16) + " (bf16) / " + pct(tables_.sustained_ceiling_fp8) +
                   " (fp8) of peak, the throughput sustained at the power limit (" +
                   std::filesystem::path(tables_.sustained_source).parent_path().filename().string() + "/sustained.yaml)";
  }
  launch_ = core::Duration::from_seconds(tables_.launch_overhead_us * 1e-6);
  build_curves();
}

void KernelCostModel::build_curves() {
  std::vector<std::pair<double, double>> all;
  for (std::size_t c = 0; c < memory_curves_.size(); ++c) {
    std::vector<std::pair<double, double>> raw;
    for (const auto& p : tables_.memory_bound) {
      if (static_cast<std::size_t>(p.op_class) == c) raw.emplace_back(p.bytes, p.bytes_per_second);
    }
    memory_curves_[c] = curve(raw);
  }
  for (const auto& p : tables_.memory_bound) all.emplace_back(p.bytes, p.bytes_per_second);
  for (auto& c : memory_curves_) {
    if (c.empty()) c = curve(all);
  }
  std::vector<std::pair<double, double>> opt;
  for (const auto& p : tables_.optimizer) opt.emplace_back(p.bytes, p.bytes_per_second);
  optimizer_curve_ = opt.empty() ? memory_curves_[static_cast<std::size_t>(MemoryOpClass::kElementwise)] : curve(opt);
  const auto attention_curves = [&](const std::vector<AttentionPoint>& points) {
    std::map<std::tuple<bool, bool, double>, std::vector<std::pair<double, double>>> att;
    for (const auto& p : points) att[{p.backward, p.causal, p.head_dim}].emplace_back(p.seq, p.efficiency);
    std::vector<AttentionCurve> out;
    for (const auto& [k, raw] : att) out.push_back({std::get<0>(k), std::get<1>(k), std::get<2>(k), curve(raw)});
    return out;
  };
  attention_curves_ = attention_curves(tables_.attention);
  attention_cudnn_curves_ = attention_curves(tables_.attention_cudnn);
}

KernelCostModel::KernelCostModel(const KernelCostModel& other)
    : gpu_(other.gpu_),
      tables_(other.tables_),
      scaled_(other.scaled_),
      hbm_ratio_(other.hbm_ratio_),
      provenance_(other.provenance_),
      launch_(other.launch_),
      memory_curves_(other.memory_curves_),
      optimizer_curve_(other.optimizer_curve_),
      attention_curves_(other.attention_curves_),
      attention_cudnn_curves_(other.attention_cudnn_curves_) {}

KernelCostModel KernelCostModel::for_gpu(const hardware::Catalog& catalog, const hardware::GpuSpec& gpu,
                                         const std::filesystem::path& calibration_dir) {
  const auto own = calibration_dir / calibration_dir_name(gpu.name) / "kernels.yaml";
  const auto reference = calibration_dir / calibration_dir_name(kReferenceGpu) / "kernels.yaml";
  if (std::filesystem::exists(own)) {
    CalibrationTables tables = CalibrationTables::load(own);
    if (tables.gemm_bf16.size() >= kMinGemmShapes || !std::filesystem::exists(reference)) {
      return KernelCostModel(gpu, std::move(tables), false);
    }
    // Too few GEMM shapes to interpolate over (published sweeps are sparse): the shape dependence of
    // GEMM efficiency comes from the reference GPU's measured table; attention, memory-bound and
    // launch figures stay this GPU's own.
    const std::size_t own_shapes = tables.gemm_bf16.size();
    const CalibrationTables ref = CalibrationTables::load(reference);
    tables.gemm_bf16 = ref.gemm_bf16;
    if (tables.gemm_fp8.empty()) tables.gemm_fp8 = ref.gemm_fp8;
    KernelCostModel model(gpu, std::move(tables), false);
    model.provenance_ += "; GEMM efficiencies from " + ref.gpu + " (this GPU's table has " + std::to_string(own_shapes) +
                         " GEMM shapes, fewer than " + std::to_string(kMinGemmShapes) + ")";
    return model;
  }
  if (!std::filesystem::exists(reference)) {
    throw core::InputError("no calibration tables for " + gpu.name + " and no reference tables at " + reference.string());
  }
  const double ratio = gpu.hbm_bandwidth.value() / catalog.gpu(kReferenceGpu).hbm_bandwidth.value();
  return KernelCostModel(gpu, CalibrationTables::load(reference), true, ratio);
}

double KernelCostModel::gemm_efficiency(const GemmShape& g, hardware::Dtype dtype) const {
  // Key: 20 bits per dimension (shapes beyond 2^20 are clamped; the table tops out far below),
  // plus the dtype.
  const auto clamp20 = [](std::int64_t v) { return static_cast<std::uint64_t>(std::clamp<std::int64_t>(v, 0, (1 << 20) - 1)); };
  const std::uint64_t key = (clamp20(g.m) << 40) | (clamp20(g.n) << 20) | clamp20(g.k) |
                            (static_cast<std::uint64_t>(dtype) << 60);
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (auto it = gemm_cache_.find(key); it != gemm_cache_.end()) return it->second;
  }
  const double e = gemm_efficiency_uncached(g, dtype);
  std::lock_guard<std::mutex> lock(cache_mutex_);
  gemm_cache_.emplace(key, e);
  return e;
}

double KernelCostModel::gemm_efficiency_uncached(const GemmShape& g, hardware::Dtype dtype) const {
  const auto& pts = (dtype == hardware::Dtype::kFp8 && !tables_.gemm_fp8.empty()) ? tables_.gemm_fp8 : tables_.gemm_bf16;
  const std::array<double, 3> q{std::log2(static_cast<double>(std::max<std::int64_t>(1, g.m))),
                                std::log2(static_cast<double>(std::max<std::int64_t>(1, g.n))),
                                std::log2(static_cast<double>(std::max<std::int64_t>(1, g.k)))};
  // The 4 nearest points in log space (ties broken by table order: deterministic).
  constexpr std::size_t kNeighbours = 4;
  std::array<std::pair<double, std::size_t>, kNeighbours> best;
  best.fill({INFINITY, 0});
  for (std::size_t i = 0; i < pts.size(); ++i) {
    const double dm = std::log2(pts[i].m) - q[0], dn = std::log2(pts[i].n) - q[1], dk = std::log2(pts[i].k) - q[2];
    const double dist = dm * dm + dn * dn + dk * dk;
    if (dist == 0.0) return pts[i].efficiency;
    for (std::size_t j = 0; j < kNeighbours; ++j) {
      if (dist < best[j].first) {
        for (std::size_t s = kNeighbours - 1; s > j; --s) best[s] = best[s - 1];
        best[j] = {dist, i};
        break;
      }
    }
  }
  double wsum = 0.0, esum = 0.0;
  for (const auto& [dist, i] : best) {
    if (!std::isfinite(dist)) continue;
    const double w = 1.0 / dist;
    wsum += w;
    esum += w * pts[i].efficiency;
  }
  return esum / wsum;
}

double KernelCostModel::attention_efficiency(const AttentionShape& a) const {
  // The backend's table (cuDNN when asked for and measured, else flash); in it the same pass, the same
  // mask if measured, the nearest calibrated head dimension; then interpolate over the sequence length.
  const auto& curves = a.cudnn && has_cudnn_attention() ? attention_cudnn_curves_ : attention_curves_;
  bool any_same_mask = false;
  for (const auto& c : curves) any_same_mask = any_same_mask || (c.backward == a.backward && c.causal == a.causal);
  const AttentionCurve* best = nullptr;
  double best_gap = INFINITY;
  for (const auto& c : curves) {
    if (c.backward != a.backward || (any_same_mask && c.causal != a.causal)) continue;
    const double gap = std::fabs(std::log2(c.head_dim) - std::log2(static_cast<double>(a.head_dim)));
    if (gap < best_gap) {
      best_gap = gap;
      best = &c;
    }
  }
  if (best == nullptr) return gemm_efficiency({a.seq_q, a.seq_kv, a.head_dim, 1}, hardware::Dtype::kBf16);
  return interpolate_log2(best->efficiency, static_cast<double>(a.seq_kv));
}

double KernelCostModel::memory_bandwidth(MemoryOpClass c, double bytes) const {
  const Curve& cv = memory_curves_[static_cast<std::size_t>(c)];
  MFUSIM_CHECK(!cv.empty(), "calibration tables have no memory-bound measurements");
  return interpolate_log2(cv, bytes) * hbm_ratio_;
}

double KernelCostModel::optimizer_bandwidth(double bytes) const {
  return interpolate_log2(optimizer_curve_, bytes) * hbm_ratio_;
}

core::Duration KernelCostModel::time(const Kernel& k) const {
  double seconds = 0.0;
  switch (k.kind) {
    case KernelKind::kGemm:
    case KernelKind::kAttention: {
      const auto peak = gpu_.peak(k.kind == KernelKind::kAttention ? hardware::Dtype::kBf16 : k.dtype);
      MFUSIM_CHECK(peak.has_value(), gpu_.name + " has no peak for " + std::string(hardware::to_string(k.dtype)));
      // A batched/grouped GEMM of `count` equal problems fills the GPU with count x the tiles of one,
      // as one GEMM with count x the rows would: its efficiency is looked up at (m * count, n, k). The
      // small per-problem k or n still shows in the memory term (every operand is read once).
      const GemmShape filled{k.gemm.m * k.gemm.count, k.gemm.n, k.gemm.k, 1};
      const double eff = k.kind == KernelKind::kGemm ? gemm_efficiency(filled, k.dtype) : attention_efficiency(k.attention);
      // The tables time kernels alone, at SM clocks up to the maximum; in a step they run back to back
      // at the power limit, where tensor-core throughput settles at a ceiling whatever the shape: a
      // kernel runs at min(isolated efficiency, the dtype's measured ceiling) (calibration.hpp).
      const double ceiling = k.kind == KernelKind::kGemm && k.dtype == hardware::Dtype::kFp8 ? tables_.sustained_ceiling_fp8
                                                                                            : tables_.sustained_ceiling_bf16;
      const double compute = k.flops / (peak->value() * std::min(eff, ceiling));
      const double memory = k.bytes / memory_bandwidth(MemoryOpClass::kCopy, k.bytes);
      seconds = std::max(compute, memory);
      break;
    }
    case KernelKind::kMemory:
      seconds = k.bytes / memory_bandwidth(k.memory_class, k.bytes);
      break;
    case KernelKind::kOptimizer:
      seconds = k.bytes / optimizer_bandwidth(k.bytes);
      break;
  }
  return core::Duration::from_seconds(seconds) + launch_;
}

}  // namespace mfusim::compute
