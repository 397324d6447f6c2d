#!/usr/bin/env python3
"""How fast do GEMMs run at the power limit when other kernels share the GPU's time?

The power-limited ceiling (sustained.yaml) comes from GEMM chains run back to back: the GPU sits at its
power limit and the SM clock falls to what the limit allows. In a training step the GEMMs are
interleaved with memory-bound kernels (norms, casts, residual adds) that draw less power, or with idle
gaps (pipeline bubbles, exposed communication); the power controller can then give the GEMMs a higher
clock. This script measures that: one layer's GEMMs (forward, input gradient, weight gradient of the
four linears) in training order, each followed by its share of filler, looped for `--seconds` after a
warm-up of the same length, for several filler shares:

  memory  fp32 elementwise adds (c = a + b over 64 M elements: 768 MB moved per call), the kind of
          memory-bound kernel an eager step is full of
  idle    torch.cuda._sleep spins (the SMs wait; a stand-in for bubbles and exposed communication)

Per mix: the GEMMs' throughput (their FLOPs over their own event-timed time), the filler's time share,
and the SM clock and board power sampled by nvidia-smi.

    python3 workloads/calibration/measure_power_mix.py --out power_mix.json [--seconds 3]
"""

import argparse
import json
import platform
import time

from measure_kernels import Monitor  # nvidia-smi sampler (SM clock, power, temperature per section)

# (name, tokens, [(linear, in, out)]): GPT-style 1.3B at micro-batch 8 x seq 2048 (the single-GPU ground
# truth's gpt-1.3b, whose eager steps run GEMMs above the sustained ceiling), and the GPT-3 175B TP-4
# shard of sustained.yaml (big GEMMs, for comparison with the ceiling's chains).
LAYERS = [
    ("gpt-1.3b-mb8", 16384, [("qkv", 2048, 6144), ("proj", 2048, 2048), ("fc1", 2048, 8192), ("fc2", 8192, 2048)]),
    ("gpt3-175b-tp4", 2048, [("qkv", 12288, 9216), ("proj", 3072, 12288), ("fc1", 12288, 12288),
                             ("fc2", 12288, 12288)]),
]
MEMORY_SHARES = [0.0, 0.2, 0.4, 0.6]
IDLE_SHARES = [0.2, 0.4]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=3.0, help="measured period per mix (after as long a warm-up)")
    args = ap.parse_args()

    import torch

    dev = torch.device("cuda")
    torch.manual_seed(0)
    props = torch.cuda.get_device_properties(0)
    out = {"schema": "mfusim-power-mix/1",
           "machine": {"gpu": props.name, "sms": props.multi_processor_count, "torch": torch.__version__,
                       "cuda": torch.version.cuda, "python": platform.python_version()},
           "seconds": args.seconds, "mixes": []}
    mon = Monitor(period=0.2)
    mon.start()
    secs = args.seconds

    def log(msg):
        print(time.strftime("%H:%M:%S"), msg, flush=True)

    n_fill = 64 << 20
    fa = torch.randn(n_fill, device=dev)
    fb = torch.randn(n_fill, device=dev)
    fc = torch.empty(n_fill, device=dev)

    def filler():
        torch.add(fa, fb, out=fc)

    def time_calls(fn, reps=20):
        fn()
        torch.cuda.synchronize()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(reps):
            fn()
        e.record()
        torch.cuda.synchronize()
        return s.elapsed_time(e) * 1e3 / reps  # us per call

    # torch.cuda._sleep(cycles): calibrate cycles per microsecond once (at whatever clock the GPU has)
    cycles = 1_000_000
    sleep_us = time_calls(lambda: torch.cuda._sleep(cycles), reps=5)
    cycles_per_us = cycles / sleep_us

    for name, m, linears in LAYERS:
        keep, gemms, flops = [], [], []
        for lin, din, dout in linears:
            x = torch.randn(m, din, device=dev, dtype=torch.bfloat16)
            w = torch.randn(dout, din, device=dev, dtype=torch.bfloat16)
            dy = torch.randn(m, dout, device=dev, dtype=torch.bfloat16)
            keep += [x, w, dy]
            gemms.append(("fwd", lin, lambda x=x, w=w: torch.mm(x, w.t()), 2.0 * m * din * dout))
            gemms.append(("dgrad", lin, lambda dy=dy, w=w: torch.mm(dy, w), 2.0 * m * din * dout))
            gemms.append(("wgrad", lin, lambda dy=dy, x=x: torch.mm(dy.t(), x), 2.0 * m * din * dout))
        order = [g for g in gemms if g[0] == "fwd"] + [g for g in reversed(gemms) if g[0] != "fwd"]
        gemm_us = sum(time_calls(g[2], reps=5) for g in order)  # a rough chain time, to size the fillers
        fill_us = time_calls(filler, reps=10)
        mixes = [("memory", s) for s in MEMORY_SHARES] + [("idle", s) for s in IDLE_SHARES]
        for kind, share in mixes:
            # filler per GEMM so that filler / (GEMM + filler) is about `share`
            per_gemm_us = gemm_us * share / (1.0 - share) / len(order) if share > 0 else 0.0
            steps = []
            for g in order:
                steps.append(("gemm", g[2], g[3]))
                if kind == "memory" and per_gemm_us > 0:
                    for _ in range(max(1, round(per_gemm_us / fill_us))):
                        steps.append(("fill", filler, 0.0))
                elif kind == "idle" and per_gemm_us > 0:
                    c = int(per_gemm_us * cycles_per_us)
                    steps.append(("fill", lambda c=c: torch.cuda._sleep(c), 0.0))
            phase = "%s/%s-%.1f" % (name, kind, share)
            torch.cuda.synchronize()
            mon.section = phase + ":warmup"
            t0 = time.time()
            while time.time() - t0 < secs:
                for _, f, _ in steps:
                    f()
                torch.cuda.synchronize()
            mon.section = phase
            t_gemm = t_fill = 0.0
            n = 0
            t1 = time.time()
            while time.time() - t1 < secs:
                evs = [torch.cuda.Event(enable_timing=True) for _ in range(len(steps) + 1)]
                evs[0].record()
                for i, (_, f, _) in enumerate(steps):
                    f()
                    evs[i + 1].record()
                torch.cuda.synchronize()
                for i, (what, _, _) in enumerate(steps):
                    us = evs[i].elapsed_time(evs[i + 1]) * 1e3
                    if what == "gemm":
                        t_gemm += us
                    else:
                        t_fill += us
                n += 1
            mon.section = "idle"
            total_flops = sum(fl for what, _, fl in steps if what == "gemm") * n
            rec = {"layer": name, "filler": kind, "target_share": share, "chains": n,
                   "gemm_tflops": round(total_flops / t_gemm / 1e6, 1),
                   "filler_share": round(t_fill / (t_gemm + t_fill), 4),
                   "filler_calls_per_chain": sum(1 for s in steps if s[0] == "fill"),
                   "monitor": mon.summary(phase)}
            out["mixes"].append(rec)
            log("%s: GEMMs %.0f TFLOP/s, filler share %.2f, clock %s MHz, power %s W" % (
                phase, rec["gemm_tflops"], rec["filler_share"], (rec["monitor"] or {}).get("sm_clock_mhz_median"),
                (rec["monitor"] or {}).get("power_w_median")))
            with open(args.out, "w") as f:
                json.dump(out, f, indent=1)
        del keep
        torch.cuda.empty_cache()
    mon.stop()
    log("wrote %s" % args.out)


if __name__ == "__main__":
    main()
