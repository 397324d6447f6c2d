#pragma once
// Size-dependent efficiency eta of the analytical collective model: the fraction of NCCL's modelled
// bandwidth a collective achieves, as a function of the slice of the buffer each rank works on.
//
// Model: t = lat + S / (algbw x eta(slice)), with lat and algbw from NCCL's tuner (cost_model.hpp).
// eta is piecewise linear in log2(slice) between the points below and constant outside them. The slice
// is S / n for Ring, PAT and single-node NVLS (each rank owns 1/n of the buffer in every step), S / k (k
// ranks per node) for NVLSTree, CollNet and multi-node NVLS (each head owns 1/k of the buffer across
// nodes), and S for Tree (every rank reduces and broadcasts the whole buffer, pipelined).
//
// Why the slice: NCCL's model is close at large sizes and optimistic at mid sizes (it can overestimate
// 16-128 MB all-reduce bandwidth by 15-30%, nccl-model.md section 5.5). The measured shortfall lines up
// across communicator sizes when plotted against S / n (a ring step moves S / (n x channels)): 72 GPUs
// at 512 MiB (7 MiB per rank) fall short like 8 GPUs at 64 MiB (8 MiB per rank) - 0.73 and 0.77 of the
// model. Only ring and single-node NVLS measurements calibrate the curve; its use for the tree family
// (slice S / k or S) is an assumption without a measured point to check it.
//
// Calibration: fitted (least squares on log busbw error, eta non-decreasing, at most 1) to the
// all-reduce points of ../shared/reference/nccl-points.yaml that the presets can express: 8x A100
// (NCCL 2.18.5, 1 MiB .. 8 GiB), 8x H100 ring/NVLS, 2/4/8x H100 ring at 1 GiB, 16 DGX A100 nodes, GB200
// NVL72 (NCCL 2.26.2, 512 MiB .. 8 GiB) and 4x GB200 (NCCL 2.25.1, 1 MiB .. 8 GiB); H800 NVLS was left out
// (NCCL's own model is 17% low there at every size, see docs/models/collectives.md). Leave-one-system-
// out refits move the prediction of the left-out system by at most 14% (docs/models/collectives.md).
// The points are all-reduce; other collectives use the same curve (an assumption).
#include <span>
#include <vector>

namespace mfusim::collective {

class EfficiencyCurve {
 public:
  struct Point {
    double bytes_per_rank;
    double efficiency;
  };

  // The calibrated curve above.
  static EfficiencyCurve calibrated();
  // eta = 1: NCCL's cost model as NCCL evaluates it.
  static EfficiencyCurve none();
  // Points sorted by bytes_per_rank, efficiencies in (0, 1]; throws core::InputError otherwise.
  explicit EfficiencyCurve(std::vector<Point> points);

  double at(double bytes_per_rank) const;
  std::span<const Point> points() const { return points_; }

 private:
  std::vector<Point> points_;
};

}  // namespace mfusim::collective
