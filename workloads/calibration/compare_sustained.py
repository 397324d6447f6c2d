#!/usr/bin/env python3
"""Print measure_sustained.py's results beside the H100 kernel table (same m, n, k rows), compare two
models of the sustained-load slowdown GEMM by GEMM, or write the power-limited throughput ceiling that
mfusim's kernel cost model applies (schema mfusim-power-ceiling/1).

    python3 workloads/calibration/compare_sustained.py SUSTAINED.json [kernels.yaml]
    python3 workloads/calibration/compare_sustained.py --fit RUN1.json [RUN2.json ...]
    python3 workloads/calibration/compare_sustained.py --yaml OUT.yaml RUN1.json [RUN2.json ...]
    python3 workloads/calibration/compare_sustained.py --check sustained.yaml HELD_OUT.json   # committed ceiling

Under sustained load a layer's GEMMs settle at the throughput the power limit allows, whatever their
shapes (measure_sustained.py: 663-678 TFLOP/s bf16 on H100 and H200 for four models' layers), while
timed alone (measure_kernels.py's method) the same GEMMs run at 620-830 TFLOP/s. The ceiling of a dtype
is the median over every chain of every run of the chain's sustained TFLOP/s. fp8 uses the chains
without fast accumulation (the fp8 table's setting).
"""
import json
import re
import statistics
import sys


def table_rows(path):
    rows = {"bf16": {}, "fp8": {}}
    section = None
    pat = re.compile(r"\{m: (\d+), n: (\d+), k: (\d+), time_us: ([0-9.e+-]+)")
    for line in open(path):
        if line.startswith("  bf16:"):
            section = "bf16"
        elif line.startswith("  fp8:"):
            section = "fp8"
        elif not line.startswith("    "):
            section = None
        if section:
            m = pat.search(line)
            if m:
                rows[section][tuple(int(x) for x in m.groups()[:3])] = float(m.group(4))
    return rows


def chains(paths):
    """Every measured chain of the runs (bf16 and fp8 without fast accumulation: the tables' settings)."""
    for path in paths:
        data = json.load(open(path))
        for c in data["gemm_chains"]:
            if "error" not in c and c["dtype"] in ("bf16", "fp8"):
                yield path.split("/")[-1], data["machine"], c


def power_limited_tflops(paths):
    """Median over the chains of each dtype of the chain's sustained TFLOP/s."""
    tf = {"bf16": [], "fp8": []}
    for _, _, c in chains(paths):
        tf[c["dtype"]].append(c["sustained_tflops"])
    return {k: statistics.median(v) for k, v in tf.items()}


def fit(paths):
    """Per-GEMM check of two models of the sustained time against the measurement: a constant factor
    (the mean chain ratio) and the power-limited ceiling (max of the isolated time and FLOPs / ceiling)."""
    cap = power_limited_tflops(paths)
    for dtype in ("bf16", "fp8"):
        cs = [c for _, _, c in chains(paths) if c["dtype"] == dtype]
        factor = statistics.mean(c["sustained_chain_us"] / c["isolated_sum_us"] for c in cs)
        err = {"none": [], "factor": [], "ceiling": []}
        for c in cs:
            for g in c["gemms"]:
                flops = 2.0 * g["m"] * g["n"] * g["k"]
                iso, sus = g["isolated_us"], g["sustained_us"]
                err["none"].append(iso / sus - 1)
                err["factor"].append(iso * factor / sus - 1)
                err["ceiling"].append(max(iso, flops / (cap[dtype] * 1e6)) / sus - 1)
        print("%-5s %3d GEMMs  ceiling %.0f TFLOP/s, factor x%.3f" % (dtype, len(err["none"]), cap[dtype], factor))
        for k, e in err.items():
            print("    %-8s mean |error| %5.1f%%  mean error %+5.1f%%  max |error| %5.1f%%"
                  % (k, 100 * statistics.mean(abs(x) for x in e), 100 * statistics.mean(e), 100 * max(abs(x) for x in e)))


def check(ceiling_yaml, paths):
    """Out-of-sample check: each GEMM's sustained time predicted with the committed ceiling (not one
    fitted to these runs) as max(isolated time, FLOPs / ceiling)."""
    cap = {}
    for line in open(ceiling_yaml):
        m = re.match(r"\s+(bf16|fp8): ([0-9.]+)$", line)
        if m:
            cap[m.group(1)] = float(m.group(2))
    for dtype in ("bf16", "fp8"):
        err = []
        for _, _, c in chains(paths):
            if c["dtype"] != dtype:
                continue
            for g in c["gemms"]:
                flops = 2.0 * g["m"] * g["n"] * g["k"]
                pred = max(g["isolated_us"], flops / (cap[dtype] * 1e6))
                err.append(pred / g["sustained_us"] - 1)
                print("%-5s %-24s %-5s %-6s pred %8.1f us  sustained %8.1f us  %+5.1f%%"
                      % (dtype, c["name"], g["linear"], g["pass"], pred, g["sustained_us"], 100 * err[-1]))
        if err:
            print("%-5s %d GEMMs, ceiling %.1f TFLOP/s: mean |error| %.1f%%, mean error %+.1f%%"
                  % (dtype, len(err), cap[dtype], 100 * statistics.mean(abs(x) for x in err), 100 * statistics.mean(err)))


def write_yaml(out, paths):
    cap = power_limited_tflops(paths)
    rows, devices = [], []
    for run, machine, c in chains(paths):
        if machine["gpu"] not in devices:
            devices.append(machine["gpu"])
        mon = c.get("monitor") or {}
        rows.append("  - {run: %s, chain: %s, dtype: %s, isolated_us: %.1f, sustained_us: %.1f, ratio: %.4f, "
                    "sustained_tflops: %.1f, sustained_sm_clock_mhz: %s, sustained_power_w: %s}"
                    % (run, c["name"], c["dtype"], c["isolated_sum_us"], c["sustained_chain_us"],
                       c["sustained_chain_us"] / c["isolated_sum_us"], c["sustained_tflops"],
                       mon.get("sm_clock_mhz_median"), mon.get("power_w_median")))
    with open(out, "w") as f:
        f.write("# Written by workloads/calibration/compare_sustained.py --yaml from measure_sustained.py runs.\n")
        f.write("# power_limited_tflops: median over the chains below of the throughput a layer's GEMMs sustain\n")
        f.write("# back to back at the power limit (README.md, Sustained load). The kernel cost model runs a GEMM\n")
        f.write("# at min(its isolated rate from kernels.yaml, this ceiling); attention takes the bf16 ceiling.\n")
        f.write("schema: mfusim-power-ceiling/1\n")
        f.write("measured_on: {devices: '%s', runs: %d}\n" % (", ".join(devices), len(paths)))
        f.write("power_limited_tflops:\n")
        for k, v in cap.items():
            f.write("  %s: %.1f\n" % (k, v))
        f.write("chains:\n")
        f.write("\n".join(rows) + "\n")


def main():
    if sys.argv[1] == "--yaml":
        write_yaml(sys.argv[2], sys.argv[3:])
        return
    if sys.argv[1] == "--fit":
        fit(sys.argv[2:])
        return
    if sys.argv[1] == "--check":
        check(sys.argv[2], sys.argv[3:])
        return
    data = json.load(open(sys.argv[1]))
    table = table_rows(sys.argv[2] if len(sys.argv) > 2 else
                       "workloads/calibration/h100-sxm5-80gb/kernels.yaml")
    print("machine:", data["machine"])
    for c in data["gemm_chains"]:
        if "error" in c:
            print(c["name"], c["dtype"], "error", c["error"])
            continue
        t = table["bf16" if c["dtype"] == "bf16" else "fp8"]
        tab_sum, found = 0.0, 0
        for g in c["gemms"]:
            v = t.get((g["m"], g["n"], g["k"]))
            if v:
                tab_sum += v
                found += 1
        mon = c.get("monitor") or {}
        moni = c.get("monitor_isolated") or {}
        print("%-24s %-15s isolated %8.0f us  sustained %8.0f us  x%.3f  %6.0f TF/s  clock %s/%s MHz  power %s W"
              % (c["name"], c["dtype"], c["isolated_sum_us"], c["sustained_chain_us"],
                 c["sustained_over_isolated"], c["sustained_tflops"], moni.get("sm_clock_mhz_median"),
                 mon.get("sm_clock_mhz_median"), mon.get("power_w_median")))
        if found == len(c["gemms"]):
            print("%-40s table sum %8.0f us  isolated/table %.3f  sustained/table %.3f"
                  % ("", tab_sum, c["isolated_sum_us"] / tab_sum, c["sustained_chain_us"] / tab_sum))
        for g in c["gemms"]:
            v = t.get((g["m"], g["n"], g["k"]))
            print("    %-5s %-6s %6d %6d %6d  iso %8.1f  sus %8.1f  table %s"
                  % (g["linear"], g["pass"], g["m"], g["n"], g["k"], g["isolated_us"],
                     g["sustained_us"] or 0, "%.1f" % v if v else "-"))
    for l in data["layers"]:
        print(l)


if __name__ == "__main__":
    main()
