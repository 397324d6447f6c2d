#!/usr/bin/env python3
"""Print measure_sustained.py's results beside the H100 kernel table (same m, n, k rows), or write the
sustained-load slowdown that mfusim's kernel cost model applies (schema mfusim-sustained/1).

    python3 workloads/calibration/compare_sustained.py SUSTAINED.json [kernels.yaml]
    python3 workloads/calibration/compare_sustained.py --yaml OUT.yaml RUN1.json [RUN2.json ...]

The slowdown of a dtype is the mean over every layer chain of every run of
(sustained chain time) / (sum of the same GEMMs timed alone, measure_kernels.py's method): what
running a layer's GEMMs back to back at the power limit costs over the isolated timings the kernel
tables hold. fp8 uses the chains without fast accumulation (the fp8 table's setting).
"""
import json
import re
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


def write_yaml(out, paths):
    ratios = {"bf16": [], "fp8": []}
    rows = []
    machine = None
    for path in paths:
        data = json.load(open(path))
        machine = data["machine"]
        for c in data["gemm_chains"]:
            if "error" in c or c["dtype"] not in ratios:
                continue
            r = c["sustained_chain_us"] / c["isolated_sum_us"]
            ratios[c["dtype"]].append(r)
            mon = c.get("monitor") or {}
            rows.append("  - {run: %s, chain: %s, dtype: %s, isolated_us: %.1f, sustained_us: %.1f, ratio: %.4f, "
                        "sustained_sm_clock_mhz: %s, sustained_power_w: %s}"
                        % (path.split("/")[-1], c["name"], c["dtype"], c["isolated_sum_us"],
                           c["sustained_chain_us"], r, mon.get("sm_clock_mhz_median"), mon.get("power_w_median")))
    with open(out, "w") as f:
        f.write("# Written by workloads/calibration/compare_sustained.py --yaml from measure_sustained.py runs.\n")
        f.write("# compute_slowdown: mean of sustained / isolated over the chains below (README.md, Sustained load).\n")
        f.write("schema: mfusim-sustained/1\n")
        f.write("measured_on: {device_name: %s, torch: %s, cuda: %s, driver_power_clock: '%s'}\n"
                % (machine["gpu"], machine["torch"], machine["cuda"], machine.get("nvidia_smi", "")))
        f.write("compute_slowdown:\n")
        for k, v in ratios.items():
            f.write("  %s: %.3f\n" % (k, sum(v) / len(v)))
        f.write("chains:\n")
        f.write("\n".join(rows) + "\n")


def main():
    if sys.argv[1] == "--yaml":
        write_yaml(sys.argv[2], sys.argv[3:])
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
