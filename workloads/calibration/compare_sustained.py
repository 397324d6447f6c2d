#!/usr/bin/env python3
"""Print measure_sustained.py's results beside the H100 kernel table (same m, n, k rows).

    python3 workloads/calibration/compare_sustained.py SUSTAINED.json [kernels.yaml]
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


def main():
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
