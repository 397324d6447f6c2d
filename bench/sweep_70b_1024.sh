#!/usr/bin/env bash
# Issue #8's sweep benchmark: 100 points of the Llama 3.1 70B / 1,024-GPU scenario
# (scenarios/llama3.1-70b-1024xh100.yaml): pipeline depth pp = 2, 4, 8, 16 x 25 scale-out NIC bandwidths
# (50 to 1,250 Gb/s per GPU), analytical fidelity as the scenario ships. Target: under 60 s on 2 cores.
# Prints wall time, CPU time and peak RSS of the whole process; writes the CSV and chart to OUT_DIR.
# Usage: bench/sweep_70b_1024.sh [THREADS (default 2)] [OUT_DIR (default build/bench-sweep)]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
threads=${1:-2}
out=${2:-$root/build/bench-sweep}
mkdir -p "$out"
bandwidths=$(seq -s, 50 50 1250 | sed 's/,/Gbps,/g; s/$/Gbps/')
cd "$root"
/usr/bin/time -f "threads=$threads wall %e s  user %U s  sys %S s  peak RSS %M KB" \
  build/bin/mfusim sweep scenarios/llama3.1-70b-1024xh100.yaml \
    --axis parallel.pp=2,4,8,16 --axis "cluster.scale_out.nic_bandwidth=$bandwidths" \
    --x cluster.scale_out.nic_bandwidth --threads "$threads" \
    --csv "$out/sweep.csv" --plot "$out/sweep.svg" >"$out/table.txt"
tail -1 "$out/table.txt"
