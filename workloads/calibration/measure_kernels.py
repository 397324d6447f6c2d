#!/usr/bin/env python3
"""Measure the kernel-efficiency tables that mfusim's compute cost model looks up.

Run on the GPU to be calibrated (one GPU, nothing else running on it):

    python3 workloads/calibration/measure_kernels.py --out kernels.yaml [--log kernels.log]

It writes YAML in the schema `mfusim-calibration/1` (see README.md next to this file):

  gemm.bf16      torch.mm, bf16 in/out, over a log grid of (m, n, k) plus the GEMM shapes of
                 transformer layers (forward, input-gradient and weight-gradient shapes, TP splits)
  gemm.fp8       torch._scaled_mm, float8_e4m3fn operands, per-tensor scales, bf16 out
  attention      F.scaled_dot_product_attention, flash backend only, causal and non-causal,
                 forward and backward timed separately
  memory_bound   elementwise ops, LayerNorm / RMSNorm forward and backward, softmax, copy
  optimizer      torch.optim.AdamW(fused=True).step()
  launch_overhead_us  tiny kernel in a loop, eager and replayed from a CUDA graph

Timing: CUDA events around each single kernel call, the L2 cache flushed (a 256 MiB buffer is
zeroed) before every timed call, warm-up calls first, median of >= 10 timed calls. GPU clocks are not
locked; the SM clock, power and temperature are sampled with nvidia-smi while the script runs and
reported. Inputs are random (never zeros). The YAML is rewritten after every section, so a run that
is cut short still leaves the sections it finished.
"""

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time

PEAK_BF16_TFLOPS = 989.4   # dense, topologies/hardware/gpus.yaml (H100-SXM5-80GB)
PEAK_FP8_TFLOPS = 1978.9
HBM_GBPS = 3350.0          # datasheet 3.35 TB/s
MIB = 1 << 20

CONVENTIONS = {
    "timing": "CUDA events around one kernel call (memory-bound, attention and optimizer calls are preceded by a GPU spin, torch.cuda._sleep, so that host dispatch gaps are excluded); L2 flushed (256 MiB buffer zeroed) before each "
              "timed call; warm-up calls first; time_us is the median of >= 10 timed calls; "
              "clocks not locked (as found)",
    "gemm": "C[m,n] = A[m,k] @ B[n,k]^T (nn.Linear layout, torch.mm(a, b.t())), random normal "
            "inputs, bf16 in and out (fp32 accumulate); FLOPs = 2*m*n*k; efficiency = tflops / "
            "peak_reference_tflops of the dtype",
    "gemm_fp8": "torch._scaled_mm(a_e4m3 [m,k] row-major, b_e4m3 [k,n] column-major, per-tensor "
                "fp32 scales, out_dtype=bf16, use_fast_accum=False); FLOPs = 2*m*n*k",
    "attention": "F.scaled_dot_product_attention, flash backend only, bf16, q/k/v laid out as "
                 "[b, s, h, d].transpose(1, 2) as in a transformer layer; batch_heads = b*h; FLOPs "
                 "fwd = 4*b*h*s^2*d/2 when causal, 4*b*h*s^2*d when not; bwd = 2.5 * fwd; bwd "
                 "time is torch.autograd.grad(out, (q, k, v), dout) alone (forward excluded)",
    "attention_cudnn": "extra section, not in the schema: the same cases as attention through the "
                       "cuDNN backend (SDPBackend.CUDNN_ATTENTION), PyTorch's other fused attention on "
                       "Hopper; same FLOP conventions",
    "memory_bound": "bytes = ideal bytes moved (each input read once, each output written once, "
                    "per-row statistics and weight vectors ignored); gbps = bytes / time; "
                    "efficiency = gbps / 3350 (datasheet HBM3); bf16 unless the op name ends in "
                    "_fp32; norms and softmax over rows of 4096; swiglu = F.silu(a) * b in eager "
                    "(two kernels, bytes still counted as the fused ideal)",
    "optimizer": "torch.optim.AdamW(fused=True).step() over fp32 params and grads split in "
                 "tensors of at most 16M elements; bytes = 28 * params (param r+w, grad r, "
                 "exp_avg r+w, exp_avg_sq r+w, 4 bytes each)",
    "launch_overhead_us": "eager: 2000 x.add_(1) on a 1-element tensor launched back to back "
                          "from Python, time/2000 (PyTorch dispatch + launch, CPU bound); "
                          "cuda_graph: the same 2000 kernels captured in one CUDA graph and "
                          "replayed, time/2000 (per-kernel GPU time incl. launch gap)",
}


# ----------------------------------------------------------------------------- YAML output
def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return "null"
        if v == 0.0:
            return "0.0"
        a = abs(v)
        if a >= 1000:
            s = "%.1f" % v
        elif a >= 1:
            s = "%.6g" % v
            if "e" in s:
                s = "%.1f" % v
        else:
            s = "%.5g" % v
        if "e" in s:
            # YAML 1.1 loaders want a dot in floats written with an exponent
            mant, exp = s.split("e")
            if "." not in mant:
                mant += ".0"
            s = mant + "e" + exp
        elif "." not in s:
            s += ".0"
        return s
    s = str(v)
    plain_ok = (s and all(c.isalnum() or c in "-_./+" for c in s)
                and s.lower() not in ("true", "false", "yes", "no", "on", "off", "null", "~")
                and not s[0].isdigit() and s[0] not in "-.+")
    return s if plain_ok else json.dumps(s)


def _flow(d):
    return "{" + ", ".join("%s: %s" % (k, _flow(v) if isinstance(v, dict) else _scalar(v))
                           for k, v in d.items()) + "}"


def comment_block(title, conventions):
    """YAML comment lines (ignored by loaders) stating the conventions, wrapped at 100 columns."""
    import textwrap
    lines = ["# " + title]
    for k, v in conventions.items():
        lines += textwrap.wrap("%s: %s" % (k, v), width=98, initial_indent="# ",
                               subsequent_indent="#     ")
    return "\n".join(lines) + "\n"


def emit_yaml(doc):
    """Small emitter: top-level keys; dict values of scalars as flow maps; lists of dicts one flow
    map per line; nested dicts of lists (gemm: {bf16: [...], fp8: [...]}) one level deep."""
    out = []
    for key, val in doc.items():
        if isinstance(val, dict) and all(not isinstance(x, (dict, list)) for x in val.values()):
            out.append("%s: %s" % (key, _flow(val)))
        elif isinstance(val, dict):
            out.append("%s:" % key)
            for k2, v2 in val.items():
                if isinstance(v2, list):
                    if not v2:
                        out.append("  %s: []" % k2)
                    else:
                        out.append("  %s:" % k2)
                        for row in v2:
                            out.append("    - " + _flow(row))
                elif isinstance(v2, dict):
                    out.append("  %s: %s" % (k2, _flow(v2)))
                else:
                    out.append("  %s: %s" % (k2, _scalar(v2)))
        elif isinstance(val, list):
            if not val:
                out.append("%s: []" % key)
            else:
                out.append("%s:" % key)
                for row in val:
                    out.append("  - " + (_flow(row) if isinstance(row, dict) else _scalar(row)))
        else:
            out.append("%s: %s" % (key, _scalar(val)))
    return "\n".join(out) + "\n"


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- shape grids
def round_up(x, m):
    return (x + m - 1) // m * m


def swiglu_ffn(h):
    """Llama's rule: int(2 * 4h / 3) rounded up to a multiple of 256."""
    return round_up(int(2 * 4 * h / 3), 256)


def gemm_shapes_bf16(smoke=False):
    """Ordered, de-duplicated list of (m, n, k, tag). C[m,n] = A[m,k] @ B[n,k]^T (nn.Linear layout)."""
    if smoke:
        return [(1024, 1024, 1024, "cube"), (4096, 4096, 4096, "cube"), (2048, 3072, 1024, "fwd")]
    seen, shapes = set(), []

    def add(m, n, k, tag):
        if (m, n, k) not in seen and m > 0 and n > 0 and k > 0:
            seen.add((m, n, k))
            shapes.append((m, n, k, tag))

    cube = [256, 512, 1024, 2048, 4096, 8192, 16384]
    for m in cube:
        for n in cube:
            for k in cube:
                add(m, n, k, "cube")
    # exact GEMMs of the models in measure_training_steps.py (tokens = micro_batch * 2048)
    tokens_list = [2048, 4096, 8192, 16384]
    model_layers = [  # (n_out, k_in) of each nn.Linear
        (3 * 1024, 1024), (1024, 1024), (4096, 1024), (1024, 4096), (50304, 1024), (50257, 1024),
        (3 * 2048, 2048), (2048, 2048), (8192, 2048), (2048, 8192), (50304, 2048), (50257, 2048),
        (3072, 2048), (2 * 5632, 2048), (2048, 5632), (32000, 2048),
        (3 * 2560, 2560), (2560, 2560), (10240, 2560), (2560, 10240), (50304, 2560),
    ]
    for t in tokens_list:
        for n, k in model_layers:
            add(t, n, k, "fwd")
            add(t, k, n, "dgrad")
            add(n, k, t, "wgrad")
    # transformer layer GEMMs over hidden sizes and TP degrees
    for h in [1024, 2048, 4096, 5120, 8192, 12288, 16384]:
        f4 = 4 * h
        fs = swiglu_ffn(h)
        for tp in [1, 2, 4, 8]:
            layer = [(3 * h // tp, h), (h, h // tp), (f4 // tp, h), (h, f4 // tp),
                     (2 * fs // tp, h), (h, fs // tp)]
            for t in tokens_list:
                for n, k in layer:
                    add(t, n, k, "fwd")
                    add(t, k, n, "dgrad")
                    add(n, k, t, "wgrad")
    return shapes


def gemm_shapes_fp8(smoke=False):
    if smoke:
        return [(4096, 4096, 4096, "cube")]
    cube = [256, 512, 1024, 2048, 4096, 8192, 16384]
    shapes = [(m, n, k, "cube") for m in cube for n in cube for k in cube]
    for t in [4096, 8192, 16384]:
        for h in [4096, 8192, 16384]:
            for n, k in [(3 * h, h), (h, h), (4 * h, h), (h, 4 * h)]:
                if (t, n, k, "cube") not in shapes:
                    shapes.append((t, n, k, "fwd"))
    return shapes


def attention_cases(smoke=False):
    seqs = [512, 1024, 2048, 4096, 8192, 16384, 32768]
    dims = [64, 128]
    if smoke:
        seqs, dims = [1024], [128]
    cases = []
    for causal in (True, False):
        for d in dims:
            for s in seqs:
                tokens = 1 << 19                      # batch*heads*seq = 512K rows of q
                bh = max(tokens // s, 8)
                heads = 16 if d == 128 else 32
                heads = min(heads, bh)
                cases.append((s, d, bh // heads, heads, causal))
    return cases


def gemm_grid_flops(shapes):
    return sum(2.0 * m * n * k for m, n, k, _ in shapes)


# ----------------------------------------------------------------------------- GPU monitor
class Monitor:
    """Samples SM clock, power and temperature with nvidia-smi every `period` seconds."""

    FIELDS = "clocks.sm,power.draw,temperature.gpu"

    def __init__(self, period=2.0):
        self.period = period
        self.samples = []          # (t, section, clock, power, temp)
        self.section = "idle"
        self._stop = threading.Event()
        self._thr = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thr.start()

    def stop(self):
        self._stop.set()

    def _run(self):
        while not self._stop.is_set():
            try:
                r = subprocess.run(["nvidia-smi", "--query-gpu=" + self.FIELDS,
                                    "--format=csv,noheader,nounits", "-i", "0"],
                                   capture_output=True, text=True, timeout=10)
                vals = [float(x) for x in r.stdout.strip().split(",")]
                self.samples.append((time.time(), self.section) + tuple(vals))
            except Exception:
                pass
            self._stop.wait(self.period)

    def summary(self, section):
        rows = [s for s in self.samples if s[1] == section]
        if not rows:
            return None
        clocks = sorted(r[2] for r in rows)
        power = sorted(r[3] for r in rows)
        return {"section": section, "samples": len(rows),
                "sm_clock_mhz_median": clocks[len(clocks) // 2], "sm_clock_mhz_min": clocks[0],
                "power_w_median": power[len(power) // 2], "power_w_max": power[-1],
                "temp_c_max": max(r[4] for r in rows)}


def nvidia_smi_query(fields):
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=" + fields, "--format=csv,noheader,nounits",
                            "-i", "0"], capture_output=True, text=True, timeout=20)
        vals = [v.strip() for v in r.stdout.strip().split(",")]
        return dict(zip(fields.split(","), vals))
    except Exception as e:  # noqa: BLE001
        return {"error": repr(e)}


# ----------------------------------------------------------------------------- merging two runs
ROW_KEYS = {"attention": ("pass", "seq", "head_dim", "batch_heads", "causal"),
            "attention_cudnn": ("pass", "seq", "head_dim", "batch_heads", "causal"),
            "memory_bound": ("op", "bytes"), "optimizer": ("op", "params")}


def merge_runs(paths, out):
    """Write the row-wise best of several runs of this script: for every measured case the row whose
    time_us is lowest (a run hit by a clock or power dip reads slow, never fast). Needs pyyaml."""
    import yaml
    docs = [yaml.safe_load(open(p)) for p in paths]
    base = docs[-1]
    taken = [0] * len(docs)

    def best(rows_per_doc, keyf):
        order, best_row, best_src = [], {}, {}
        for i, rows in enumerate(rows_per_doc):
            for r in rows or []:
                k = keyf(r)
                if k not in best_row:
                    order.append(k)
                if k not in best_row or r["time_us"] < best_row[k]["time_us"]:
                    best_row[k], best_src[k] = r, i
        for k in order:
            taken[best_src[k]] += 1
        return [best_row[k] for k in order]

    merged = dict(base)
    merged["gemm"] = {dt: best([d.get("gemm", {}).get(dt) for d in docs], lambda r: (r["m"], r["n"], r["k"]))
                      for dt in ("bf16", "fp8")}
    for sec, keys in ROW_KEYS.items():
        if any(sec in d for d in docs):
            merged[sec] = best([d.get(sec) for d in docs], lambda r, keys=keys: tuple(r[k] for k in keys))
    lo = {}
    for d in docs:
        for k, v in (d.get("launch_overhead_us") or {}).items():
            lo[k] = min(v, lo.get(k, v))
    merged["launch_overhead_us"] = lo
    mo = dict(base["measured_on"])
    mo["notes"] = ("ROW-WISE BEST OF %d RUNS (lowest time_us per case; rows taken from each run: %s; "
                   "launch overheads: the lower of the runs). Runs: %s. Notes of the last run: %s" % (
                       len(docs), taken, " | ".join("%s, %s, sm %s MHz" % (
                           p, d["measured_on"].get("date"), d["measured_on"].get("sm_clock_mhz"))
                           for p, d in zip(paths, docs)), base["measured_on"].get("notes", "")))
    merged["measured_on"] = mo
    order = ["schema", "gpu", "measured_on", "peak_reference_tflops", "gemm", "attention", "memory_bound",
             "launch_overhead_us", "optimizer", "attention_cudnn"]
    merged = {k: merged[k] for k in order if k in merged}
    write_atomic(out, comment_block(
        "mfusim kernel calibration, written by workloads/calibration/measure_kernels.py "
        "(--merge of %d runs). Conventions:" % len(docs), CONVENTIONS) + emit_yaml(merged))
    print("merged %s -> %s; rows taken per run %s" % (paths, out, taken))


# ----------------------------------------------------------------------------- measurement
def main():
    global PEAK_BF16_TFLOPS, PEAK_FP8_TFLOPS, HBM_GBPS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="YAML file to write")
    ap.add_argument("--merge", nargs="+", default=None, metavar="RUN_YAML",
                    help="no measuring: write to --out the row-wise best (lowest time) of these runs")
    ap.add_argument("--log", default=None, help="also append progress lines to this file")
    ap.add_argument("--gpu-name", default="H100-SXM5-80GB", help="catalog name written as gpu:")
    ap.add_argument("--peak-bf16-tflops", type=float, default=PEAK_BF16_TFLOPS,
                    help="dense bf16 peak of --gpu-name (efficiency reference; topologies/hardware/gpus.yaml)")
    ap.add_argument("--peak-fp8-tflops", type=float, default=PEAK_FP8_TFLOPS, help="dense fp8 peak of --gpu-name")
    ap.add_argument("--hbm-gbps", type=float, default=HBM_GBPS,
                    help="datasheet HBM bandwidth of --gpu-name in GB/s (memory-bound efficiency reference)")
    ap.add_argument("--smoke", action="store_true", help="tiny grids: check that everything runs")
    ap.add_argument("--cool", type=float, default=0.0, metavar="X",
                    help="GEMM sections: idle X times each timed call's duration after it, so the GEMMs run at "
                         "the unthrottled clock (default 0: back to back, as the committed tables were measured)")
    ap.add_argument("--budget-s", type=float, default=480.0, help="stop starting new work after this")
    ap.add_argument("--sections",
                    default="gemm_bf16,attention,memory_bound,launch,optimizer,gemm_fp8,attention_cudnn")
    args = ap.parse_args()
    if args.merge:
        merge_runs(args.merge, args.out)
        return
    PEAK_BF16_TFLOPS, PEAK_FP8_TFLOPS, HBM_GBPS = args.peak_bf16_tflops, args.peak_fp8_tflops, args.hbm_gbps
    CONVENTIONS["memory_bound"] = CONVENTIONS["memory_bound"].replace(
        "gbps / 3350 (datasheet HBM3)", "gbps / %g (datasheet HBM of %s)" % (HBM_GBPS, args.gpu_name))

    import torch
    import torch.nn.functional as F

    t_start = time.time()
    logf = open(args.log, "a") if args.log else None

    def log(msg):
        line = "[%7.1fs] %s" % (time.time() - t_start, msg)
        print(line, flush=True)
        if logf:
            logf.write(line + "\n")
            logf.flush()

    assert torch.cuda.is_available(), "no CUDA device"
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(0)
    smi = nvidia_smi_query("name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.limit,"
                           "memory.total,temperature.gpu,pstate")
    log("device %s, %d SMs, torch %s, cuda %s; nvidia-smi %s" % (
        props.name, props.multi_processor_count, torch.__version__, torch.version.cuda, smi))

    mon = Monitor()
    mon.start()
    section_notes = {}
    budgets = {"gemm_bf16": 170.0, "attention": 40.0, "memory_bound": 60.0, "launch": 10.0,
               "optimizer": 25.0, "gemm_fp8": 60.0, "attention_cudnn": 40.0}
    if args.smoke:
        budgets = {k: 20.0 for k in budgets}
    for k in ("gemm_bf16", "gemm_fp8"):
        budgets[k] *= 1.0 + args.cool  # the idle time after each call

    doc = {
        "schema": "mfusim-calibration/1",
        "gpu": args.gpu_name,
        "measured_on": {},
        "peak_reference_tflops": {"bf16": PEAK_BF16_TFLOPS, "fp8": PEAK_FP8_TFLOPS},
        "gemm": {"bf16": [], "fp8": []},
        "attention": [],
        "memory_bound": [],
        "launch_overhead_us": {},
        "optimizer": [],
    }
    if "attention_cudnn" in args.sections:
        doc["attention_cudnn"] = []

    def fill_measured_on():
        gsum = mon.summary("gemm_bf16") or {}
        notes = ("clocks not locked; nvidia-smi at start: sm %s MHz (max %s), mem %s MHz, power limit %s W, "
                 "pstate %s, %s C. sm_clock_mhz = median nvidia-smi sample during the bf16 GEMM sweep. "
                 "Per section: %s. %s" % (
                     smi.get("clocks.sm"), smi.get("clocks.max.sm"), smi.get("clocks.mem"),
                     smi.get("power.limit"), smi.get("pstate"), smi.get("temperature.gpu"),
                     "; ".join("%s: sm median %s min %s MHz, power max %s W, temp max %s C" % (
                         s["section"], s["sm_clock_mhz_median"], s["sm_clock_mhz_min"], s["power_w_max"],
                         s["temp_c_max"]) for s in (mon.summary(n) for n in budgets) if s),
                     " ".join("%s: %s." % kv for kv in section_notes.items())))
        doc["measured_on"] = {
            "device_name": props.name,
            "driver": smi.get("driver_version", "unknown"),
            "cuda": torch.version.cuda,
            "torch": torch.__version__,
            "date": datetime.date.today().isoformat(),
            "sm_clock_mhz": gsum.get("sm_clock_mhz_median", -1.0),
            "notes": ("%d SMs, L2 %d bytes, %d bytes of device memory, python %s; " % (
                props.multi_processor_count, int(getattr(props, "L2_cache_size", -1)),
                int(props.total_memory), platform.python_version())) + notes,
        }

    def flush_out():
        fill_measured_on()
        write_atomic(args.out, comment_block(
            "mfusim kernel calibration, written by workloads/calibration/measure_kernels.py. "
            "Conventions:", CONVENTIONS) + emit_yaml(doc))

    # L2 flush buffer and timing helper --------------------------------------------------------
    l2_flush_buf = torch.empty(256 * MIB, dtype=torch.uint8, device=dev)

    def gpu_pad(cycles):
        """Keep the GPU busy for `cycles` clocks so that the host can queue the timed call's kernels
        before the GPU reaches them (times then exclude host-side dispatch gaps)."""
        if cycles and hasattr(torch.cuda, "_sleep"):
            torch.cuda._sleep(cycles)

    def bench(fn, min_reps=10, max_reps=40, target_s=0.06, warmup=2, flush=True, pad=0, cool=0.0):
        """Median / p10 / p90 time in microseconds of fn() (one call per timed sample). cool > 0: after
        each timed call the GPU idles (torch.cuda._sleep) for cool x the call's time, so that average
        power stays below the limit and the calls run at the clock an unthrottled GPU holds."""
        for _ in range(warmup):
            fn()
        torch.cuda.synchronize()
        # one probe to pick the repetition count
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        if flush:
            l2_flush_buf.zero_()
        e0.record(); fn(); e1.record()
        torch.cuda.synchronize()
        probe_s = max(e0.elapsed_time(e1) * 1e-3, 1e-6)
        reps = int(min(max_reps, max(min_reps, target_s / probe_s)))
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        cool_cycles = int(cool * probe_s * 1.98e9)  # _sleep counts SM clocks (about 1.98 GHz unthrottled)
        for i in range(reps):
            if flush:
                l2_flush_buf.zero_()
            gpu_pad(pad)
            starts[i].record()
            fn()
            ends[i].record()
            if cool_cycles:
                gpu_pad(cool_cycles)
        torch.cuda.synchronize()
        ts = sorted(s.elapsed_time(e) * 1e3 for s, e in zip(starts, ends))
        n = len(ts)
        return {"median": ts[n // 2] if n % 2 else 0.5 * (ts[n // 2 - 1] + ts[n // 2]),
                "p10": ts[int(0.1 * (n - 1))], "p90": ts[int(round(0.9 * (n - 1)))], "reps": n}

    def out_of_time(section, t0):
        return (time.time() - t0 > budgets[section]) or (time.time() - t_start > args.budget_s)

    sections = [s.strip() for s in args.sections.split(",") if s.strip()]

    # ------------------------------------------------------------------ bf16 GEMM
    def run_gemm(dtype_key):
        fp8 = dtype_key == "gemm_fp8"
        shapes = gemm_shapes_fp8(args.smoke) if fp8 else gemm_shapes_bf16(args.smoke)
        peak = PEAK_FP8_TFLOPS if fp8 else PEAK_BF16_TFLOPS
        log("%s: %d shapes, %.3g TFLOP per pass" % (dtype_key, len(shapes), gemm_grid_flops(shapes) / 1e12))
        max_a = max(m * k for m, n, k, _ in shapes)
        max_b = max(n * k for m, n, k, _ in shapes)
        max_c = max(m * n for m, n, k, _ in shapes)
        if fp8:
            if not hasattr(torch, "float8_e4m3fn") or not hasattr(torch, "_scaled_mm"):
                section_notes["gemm_fp8"] = "not run: this torch has no float8_e4m3fn/_scaled_mm"
                return
            pool_a = (torch.randn(max_a, device=dev, dtype=torch.bfloat16) * 0.5).to(torch.float8_e4m3fn)
            pool_b = (torch.randn(max_b, device=dev, dtype=torch.bfloat16) * 0.5).to(torch.float8_e4m3fn)
            scale_a = torch.tensor(1.0, device=dev, dtype=torch.float32)
            scale_b = torch.tensor(1.0, device=dev, dtype=torch.float32)
        else:
            pool_a = torch.randn(max_a, device=dev, dtype=torch.bfloat16)
            pool_b = torch.randn(max_b, device=dev, dtype=torch.bfloat16)
        pool_c = torch.empty(max_c, device=dev, dtype=torch.bfloat16)
        rows = doc["gemm"]["fp8" if fp8 else "bf16"]
        t0 = time.time()
        done = 0
        for m, n, k, tag in shapes:
            if out_of_time(dtype_key, t0):
                section_notes[dtype_key] = "budget reached after %d of %d shapes" % (done, len(shapes))
                log(section_notes[dtype_key])
                break
            a = pool_a[: m * k].view(m, k)
            b = pool_b[: n * k].view(n, k)          # [n, k] row-major; b.t() is [k, n] column-major
            c = pool_c[: m * n].view(m, n)
            try:
                if fp8:
                    fn = lambda a=a, b=b: torch._scaled_mm(a, b.t(), scale_a=scale_a, scale_b=scale_b,
                                                           out_dtype=torch.bfloat16)
                else:
                    fn = lambda a=a, b=b, c=c: torch.mm(a, b.t(), out=c)
                r = bench(fn, cool=args.cool)
            except Exception as e:  # noqa: BLE001
                msg = "%s failed at %dx%dx%d: %s" % (dtype_key, m, n, k, repr(e)[:300])
                log(msg)
                section_notes.setdefault(dtype_key + "_errors", msg)
                if fp8 and done == 0:
                    section_notes["gemm_fp8"] = "not run: " + repr(e)[:300]
                    break
                continue
            tf = 2.0 * m * n * k / (r["median"] * 1e-6) / 1e12
            rows.append({"m": m, "n": n, "k": k, "time_us": r["median"], "tflops": tf,
                         "efficiency": tf / peak})
            done += 1
            if done % 200 == 0:
                log("  %d/%d shapes, last %dx%dx%d %.1f TFLOP/s" % (done, len(shapes), m, n, k, tf))
                flush_out()
        del pool_a, pool_b, pool_c
        torch.cuda.empty_cache()
        best = max(rows, key=lambda r: r["tflops"]) if rows else None
        log("%s: %d shapes measured; best %s" % (dtype_key, len(rows), best))

    # ------------------------------------------------------------------ attention
    def run_attention(section="attention"):
        try:
            from torch.nn.attention import SDPBackend, sdpa_kernel
            backend = SDPBackend.CUDNN_ATTENTION if section == "attention_cudnn" else SDPBackend.FLASH_ATTENTION
            ctx = lambda: sdpa_kernel([backend])
        except Exception:  # older torch
            if section != "attention":
                section_notes[section] = "not run: no torch.nn.attention.sdpa_kernel"
                return
            ctx = lambda: torch.backends.cuda.sdp_kernel(enable_flash=True, enable_math=False,
                                                         enable_mem_efficient=False)
        rows = doc.setdefault(section, [])
        t0 = time.time()
        for s, d, b, h, causal in attention_cases(args.smoke):
            if out_of_time(section, t0):
                section_notes[section] = "budget reached"
                break
            try:
                bases = [torch.randn(b, s, h, d, device=dev, dtype=torch.bfloat16, requires_grad=True)
                         for _ in range(3)]
                q, k, v = [t_.transpose(1, 2) for t_ in bases]
                dout = torch.randn(b, h, s, d, device=dev, dtype=torch.bfloat16)
                with ctx():
                    fwd = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    with torch.no_grad():
                        rf = bench(fwd, target_s=0.05, pad=400000)
                    out = fwd()
                    bwd = lambda: torch.autograd.grad(out, (q, k, v), dout, retain_graph=True)
                    rb = bench(bwd, target_s=0.05, pad=400000)
                flops_f = 4.0 * b * h * s * s * d * (0.5 if causal else 1.0)
                for pas, r, fl in (("fwd", rf, flops_f), ("bwd", rb, 2.5 * flops_f)):
                    tf = fl / (r["median"] * 1e-6) / 1e12
                    rows.append({"pass": pas, "seq": s, "head_dim": d, "batch_heads": b * h,
                                             "causal": causal, "time_us": r["median"], "tflops": tf,
                                             "efficiency": tf / PEAK_BF16_TFLOPS})
                del q, k, v, bases, dout, out
            except Exception as e:  # noqa: BLE001
                msg = "attention s=%d d=%d causal=%s failed: %s" % (s, d, causal, repr(e)[:300])
                log(msg)
                section_notes.setdefault(section + "_errors", msg)
        torch.cuda.empty_cache()
        for r in rows:
            if r["seq"] == 4096 and r["head_dim"] == 128:
                log("  %s %s" % (section, r))

    # ------------------------------------------------------------------ memory-bound
    def run_memory_bound():
        try:
            rms = F.rms_norm
            rms_kind = "F.rms_norm"
        except AttributeError:
            def rms(x, shape, weight=None, eps=1e-5):
                xf = x.float()
                y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
                return (y * weight.float()).to(x.dtype)
            rms_kind = "manual"
        section_notes["rmsnorm"] = "rms_norm via " + rms_kind
        hidden = 4096
        sizes = [MIB << i for i in range(11)]            # 1 MiB .. 1 GiB primary tensor
        if args.smoke:
            sizes = [MIB, 64 * MIB]

        def rand(n, dt, grad=False):
            return torch.randn(n, device=dev, dtype=dt).requires_grad_(grad)

        def case_list(tb, dt, es):
            n = tb // es
            rows_ = n // hidden
            cases = []
            # name, builder -> (fn, bytes)
            def copy_():
                x, y = rand(n, dt), torch.empty(n, device=dev, dtype=dt)
                return (lambda: y.copy_(x)), 2 * n * es
            def add_():
                x, y, z = rand(n, dt), rand(n, dt), torch.empty(n, device=dev, dtype=dt)
                return (lambda: torch.add(x, y, out=z)), 3 * n * es
            def mul_():
                x, y, z = rand(n, dt), rand(n, dt), torch.empty(n, device=dev, dtype=dt)
                return (lambda: torch.mul(x, y, out=z)), 3 * n * es
            def gelu_f():
                x = rand(n, dt)
                return (lambda: F.gelu(x)), 2 * n * es
            def gelu_b():
                x = rand(n, dt, True)
                y = F.gelu(x)
                dy = rand(n, dt)
                return (lambda: torch.autograd.grad(y, x, dy, retain_graph=True)), 3 * n * es
            def swiglu_f():
                a, b_ = rand(n, dt), rand(n, dt)
                return (lambda: F.silu(a) * b_), 3 * n * es
            def swiglu_b():
                a, b_ = rand(n, dt, True), rand(n, dt, True)
                y = F.silu(a) * b_
                dy = rand(n, dt)
                return (lambda: torch.autograd.grad(y, (a, b_), dy, retain_graph=True)), 5 * n * es
            def ln_f():
                x = rand(n, dt).view(rows_, hidden)
                w, bb = rand(hidden, dt), rand(hidden, dt)
                return (lambda: F.layer_norm(x, (hidden,), w, bb)), 2 * n * es
            def ln_b():
                x = rand(n, dt, True)
                w, bb = rand(hidden, dt, True), rand(hidden, dt, True)
                y = F.layer_norm(x.view(rows_, hidden), (hidden,), w, bb)
                dy = rand(n, dt).view(rows_, hidden)
                return (lambda: torch.autograd.grad(y, (x, w, bb), dy, retain_graph=True)), 3 * n * es
            def rms_f():
                x = rand(n, dt).view(rows_, hidden)
                w = rand(hidden, dt)
                return (lambda: rms(x, (hidden,), w)), 2 * n * es
            def rms_b():
                x = rand(n, dt, True)
                w = rand(hidden, dt, True)
                y = rms(x.view(rows_, hidden), (hidden,), w)
                dy = rand(n, dt).view(rows_, hidden)
                return (lambda: torch.autograd.grad(y, (x, w), dy, retain_graph=True)), 3 * n * es
            def softmax_f():
                x = rand(n, dt).view(rows_, hidden)
                return (lambda: torch.softmax(x, dim=-1)), 2 * n * es
            def softmax_b():
                x = rand(n, dt, True)
                y = torch.softmax(x.view(rows_, hidden), dim=-1)
                dy = rand(n, dt).view(rows_, hidden)
                return (lambda: torch.autograd.grad(y, x, dy, retain_graph=True)), 3 * n * es
            if dt == torch.bfloat16:
                cases = [("copy", copy_), ("add", add_), ("mul", mul_), ("gelu_fwd", gelu_f),
                         ("gelu_bwd", gelu_b), ("swiglu_fwd", swiglu_f), ("swiglu_bwd", swiglu_b),
                         ("layernorm_fwd", ln_f), ("layernorm_bwd", ln_b), ("rmsnorm_fwd", rms_f),
                         ("rmsnorm_bwd", rms_b), ("softmax_fwd", softmax_f), ("softmax_bwd", softmax_b)]
            else:
                cases = [("copy_fp32", copy_), ("add_fp32", add_), ("layernorm_fwd_fp32", ln_f),
                         ("layernorm_bwd_fp32", ln_b), ("rmsnorm_fwd_fp32", rms_f),
                         ("rmsnorm_bwd_fp32", rms_b)]
            return cases

        t0 = time.time()
        stop = False
        for dt, es in ((torch.bfloat16, 2), (torch.float32, 4)):
            for tb in sizes:
                for name, build in case_list(tb, dt, es):
                    if out_of_time("memory_bound", t0):
                        section_notes["memory_bound"] = "budget reached at %s %d bytes" % (name, tb)
                        stop = True
                        break
                    try:
                        fn, nbytes = build()
                        r = bench(fn, target_s=0.03, pad=400000)
                        gbps = nbytes / (r["median"] * 1e-6) / 1e9
                        doc["memory_bound"].append({"op": name, "bytes": int(nbytes), "time_us": r["median"],
                                                    "gbps": gbps, "efficiency": gbps / HBM_GBPS})
                        del fn
                    except Exception as e:  # noqa: BLE001
                        msg = "%s at %d bytes failed: %s" % (name, tb, repr(e)[:300])
                        log(msg)
                        section_notes.setdefault("memory_bound_errors", msg)
                if stop:
                    break
                torch.cuda.empty_cache()
            if stop:
                break
        for r in doc["memory_bound"]:
            if r["bytes"] >= 2 * (1 << 30) and r["op"] in ("copy", "add", "layernorm_fwd", "rmsnorm_fwd"):
                log("  %s" % r)

    # ------------------------------------------------------------------ launch overhead
    def run_launch():
        x = torch.zeros(1, device=dev)
        n = 2000
        for _ in range(200):
            x.add_(1.0)
        torch.cuda.synchronize()
        eager = []
        for _ in range(5):
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            e0.record()
            for _ in range(n):
                x.add_(1.0)
            e1.record()
            torch.cuda.synchronize()
            eager.append(e0.elapsed_time(e1) * 1e3 / n)
        eager.sort()
        doc["launch_overhead_us"]["eager"] = eager[len(eager) // 2]
        try:
            g = torch.cuda.CUDAGraph()
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    x.add_(1.0)
            torch.cuda.current_stream().wait_stream(s)
            with torch.cuda.graph(g):
                for _ in range(n):
                    x.add_(1.0)
            g.replay()
            torch.cuda.synchronize()
            r = bench(lambda: g.replay(), min_reps=10, max_reps=10, flush=False)
            doc["launch_overhead_us"]["cuda_graph"] = r["median"] / n
        except Exception as e:  # noqa: BLE001
            section_notes["launch_cuda_graph"] = "failed: " + repr(e)[:300]
        log("launch overhead %s" % doc["launch_overhead_us"])

    # ------------------------------------------------------------------ optimizer
    def run_optimizer():
        counts = [1 << 20, 1 << 24, 1 << 26, 1 << 28, 1 << 30]
        if args.smoke:
            counts = [1 << 20]
        chunk = 1 << 24
        t0 = time.time()
        for p in counts:
            if out_of_time("optimizer", t0):
                section_notes["optimizer"] = "budget reached"
                break
            try:
                sizes = [chunk] * (p // chunk) + ([p % chunk] if p % chunk else [])
                params = [torch.nn.Parameter(torch.randn(sz, device=dev)) for sz in sizes]
                for q in params:
                    q.grad = torch.randn_like(q) * 1e-3
                opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.1, fused=True)
                r = bench(lambda: opt.step(), warmup=3, target_s=0.05, flush=True, pad=1000000)
                nbytes = 28 * p
                doc["optimizer"].append({"op": "adamw_fused", "params": p, "bytes": nbytes,
                                         "time_us": r["median"], "gbps": nbytes / (r["median"] * 1e-6) / 1e9})
                del opt, params
                torch.cuda.empty_cache()
            except Exception as e:  # noqa: BLE001
                msg = "adamw fused %d params failed: %s" % (p, repr(e)[:300])
                log(msg)
                section_notes.setdefault("optimizer_errors", msg)
        log("optimizer %s" % doc["optimizer"][-1:] )

    runners = {"gemm_bf16": lambda: run_gemm("gemm_bf16"), "gemm_fp8": lambda: run_gemm("gemm_fp8"),
               "attention": run_attention, "attention_cudnn": lambda: run_attention("attention_cudnn"),
               "memory_bound": run_memory_bound, "launch": run_launch,
               "optimizer": run_optimizer}
    if args.cool > 0:
        section_notes["gemm_cool"] = ("GEMM calls each followed by %.1f x their duration of idle (--cool): "
                                      "unthrottled clocks" % args.cool)
    for sec in sections:
        if time.time() - t_start > args.budget_s:
            section_notes[sec] = "not run: total budget reached"
            continue
        mon.section = sec
        ts = time.time()
        log("== %s" % sec)
        try:
            runners[sec]()
        except Exception as e:  # noqa: BLE001
            section_notes[sec + "_failed"] = repr(e)[:400]
            log("section %s failed: %r" % (sec, e))
            torch.cuda.empty_cache()
        mon.section = "idle"
        log("== %s done in %.1f s" % (sec, time.time() - ts))
        flush_out()
    mon.stop()
    flush_out()
    log("wrote %s (%d bf16 GEMMs, %d fp8 GEMMs, %d attention (+%d cudnn), %d memory-bound, %d optimizer rows)" % (
        args.out, len(doc["gemm"]["bf16"]), len(doc["gemm"]["fp8"]), len(doc["attention"]),
        len(doc.get("attention_cudnn", [])),
        len(doc["memory_bound"]), len(doc["optimizer"])))


if __name__ == "__main__":
    main()
