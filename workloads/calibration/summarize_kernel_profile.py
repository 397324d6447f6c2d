#!/usr/bin/env python3
"""Per-phase time by kernel class of a `measure_training_steps.py --kernel-profile` file.

    python3 workloads/calibration/summarize_kernel_profile.py h100-sxm5-80gb/kernel_profile_run5.json \
        [--steps h100-sxm5-80gb/training_steps_profile_run5.yaml] [--top 0]

Classes: gemm (cuBLAS kernels: nvjet*, *gemm*, cutlass GEMMs), attention (flash/cuDNN attention kernels,
including their dO.O and dQ-convert helpers), memory (everything else: elementwise, norms, casts,
copies, reductions, softmax, memsets). With --steps, each phase's profiled kernel sum is shown beside
the timed phase median of the same configuration (the profiled step runs each phase under its own
profiler, with synchronizations between phases, so its kernel sum leaves out launch gaps).
--top N also lists each phase's N largest kernels.
"""
import argparse
import json


def kernel_class(name):
    n = name.lower()
    if n.startswith("nvjet") or "gemm" in n or "cutlass::gemm" in n or n.startswith("sm90_xmma"):
        return "gemm"
    if "flash" in n or "fmha" in n or "cudnn" in n and "attn" in n:
        return "attention"
    return "memory"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("profile")
    ap.add_argument("--steps", default=None, help="the training-steps YAML written by the same call")
    ap.add_argument("--top", type=int, default=0)
    args = ap.parse_args()
    doc = json.load(open(args.profile))
    timed = {}
    if args.steps:
        import yaml  # noqa: PLC0415
        for r in yaml.safe_load(open(args.steps))["runs"]:
            if r.get("status") == "ok":
                timed[r["id"]] = {"forward": r["fwd_time_s"], "backward": r["bwd_time_s"],
                                  "optimizer": r["optimizer_time_s"]}
    print("%-28s %-9s %9s %9s %9s %9s %9s" % ("run", "phase", "gemm ms", "attn ms", "memory ms", "sum ms", "timed ms"))
    for p in doc["profiles"]:
        for phase, v in p["phases"].items():
            by = {"gemm": 0.0, "attention": 0.0, "memory": 0.0}
            for name, count, total_us in v["kernels"]:
                by[kernel_class(name)] += total_us / 1e3
            t = timed.get(p["id"], {}).get(phase)
            print("%-28s %-9s %9.1f %9.1f %9.1f %9.1f %9s" % (p["id"], phase, by["gemm"], by["attention"], by["memory"],
                                                            v["total_us"] / 1e3, "%.1f" % (t * 1e3) if t else "-"))
            for name, count, total_us in v["kernels"][:args.top]:
                print("      %5d x %8.1f us  %s" % (count, total_us / count, name[:100]))


if __name__ == "__main__":
    main()
