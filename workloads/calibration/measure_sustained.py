#!/usr/bin/env python3
"""Do isolated kernel timings predict kernels that run back to back, as in a training step?

`measure_kernels.py` times one GEMM at a time, with the L2 flushed (a 256 MiB memset) before each
call, and takes the median. In a training step the GEMMs of a layer run back to back for seconds, so
the GPU sits at its power limit (700 W on an H100 SXM) the whole time and the SM clock falls to what
that power allows. This script measures, for the per-GPU layer GEMMs of published runs:

  isolated   each GEMM timed alone, exactly as measure_kernels.py does (L2 flushed, median)
  sustained  the layer's 12 GEMMs (forward, input gradient, weight gradient of QKV, proj, FC1, FC2)
             in a loop for `--seconds` after a warm-up of the same length; the time per chain is
             the mean over the measured period; per-GEMM times from events around each GEMM in
             every 8th chain

for bf16 (torch.mm) and fp8 (torch._scaled_mm, per-tensor scales, with and without fast
accumulation), and a whole transformer layer (LayerNorm, fused attention, GELU, residuals;
forward and backward through autograd, bf16 parameters) as a stack run in a loop. The SM clock and
power are sampled with nvidia-smi every 0.2 s and reported per phase.

    python3 workloads/calibration/measure_sustained.py --out sustained.json [--seconds 3]

Layouts: forward  Y[m,out] = X[m,in] @ W[out,in]^T   torch.mm(x, w.t())
         dgrad    dX[m,in] = dY[m,out] @ W[out,in]   torch.mm(dy, w)
         wgrad    dW[out,in] = dY[m,out]^T @ X[m,in] torch.mm(dy.t(), x)
fp8 uses the nn.Linear layout for all three (A row-major, B column-major, as _scaled_mm requires),
with the shapes (m, n, k) = (m, out, in), (m, in, out), (out, in, m).
"""

import argparse
import json
import platform
import subprocess
import sys
import time

from measure_kernels import Monitor  # nvidia-smi sampler (SM clock, power, temperature per section)

MIB = 1 << 20

# Per-GPU linear layers: (name, tokens per micro-batch on one GPU, [(linear, in, out), ...]).
# GPT-3 175B at TP 4 (DGX Cloud NeMo recipe): h 12288, 96 heads of 128, ffn 4h, seq 2048, mb 1.
# Llama 3.1 405B at TP 8, CP 2: h 16384, 128 heads, 8 KV heads, ffn 53248 SwiGLU, seq 8192 / 2.
# Nemotron-4 340B at TP 8: h 18432, 96 heads of 192, 8 KV heads, ffn 73728 squared-ReLU, seq 4096.
# MPT-1B at TP 1 (llm-foundry, mb 12, seq 2048): h 2048, ffn 4h.
LAYERS = [
    ("gpt3-175b-tp4", 2048, [("qkv", 12288, 9216), ("proj", 3072, 12288),
                              ("fc1", 12288, 12288), ("fc2", 12288, 12288)]),
    ("llama3.1-405b-tp8-cp2", 4096, [("qkv", 16384, 2304), ("proj", 2048, 16384),
                                      ("fc1", 16384, 13312), ("fc2", 6656, 16384)]),
    ("nemotron4-340b-tp8", 4096, [("qkv", 18432, 2688), ("proj", 2304, 18432),
                                   ("fc1", 18432, 9216), ("fc2", 9216, 18432)]),
    ("mpt-1b-tp1-mb12", 24576, [("qkv", 2048, 6144), ("proj", 2048, 2048),
                                 ("fc1", 2048, 8192), ("fc2", 8192, 2048)]),
]
# Held out (not in sustained.yaml's ceiling; a check of it): Llama 3 70B as the DGX Cloud MaxText recipe
# runs it, FSDP without TP, mb 2 x seq 8192: h 8192, 64 heads, 8 KV heads, ffn 28672 SwiGLU.
HELD_OUT = [
    ("llama3-70b-fsdp-mb2", 16384, [("qkv", 8192, 10240), ("proj", 8192, 8192),
                                     ("fc1", 8192, 57344), ("fc2", 28672, 8192)]),
]

# Whole layers (GPT style: LayerNorm, attention, GELU MLP with biases), per-GPU shard shapes:
# (name, tokens = seq * mb, seq, mb, hidden, heads on this GPU, head_dim, ffn on this GPU, layers)
WHOLE_LAYERS = [
    ("gpt3-175b-tp4-layer", 2048, 1, 12288, 24, 128, 12288, 4),
    ("mpt-1b-layer-mb12", 2048, 12, 2048, 16, 128, 8192, 4),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=3.0, help="measured period per sustained run")
    ap.add_argument("--quick", action="store_true", help="one model, short periods (smoke test)")
    ap.add_argument("--held-out", action="store_true", help="only the held-out chains (HELD_OUT), no whole layers")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    dev = torch.device("cuda")
    torch.manual_seed(0)
    props = torch.cuda.get_device_properties(0)
    out = {"schema": "mfusim-sustained/1",
           "machine": {"gpu": props.name, "sms": props.multi_processor_count,
                       "memory_bytes": props.total_memory, "torch": torch.__version__,
                       "cuda": torch.version.cuda, "python": platform.python_version()},
           "seconds": args.seconds, "gemm_chains": [], "layers": [], "phases": {}}
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,power.limit,clocks.max.sm",
                            "--format=csv,noheader", "-i", "0"], capture_output=True, text=True,
                           timeout=10).stdout.strip()
        out["machine"]["nvidia_smi"] = q
    except Exception as e:  # noqa: BLE001
        out["machine"]["nvidia_smi"] = repr(e)
    mon = Monitor(period=0.2)
    mon.start()
    flush_buf = torch.empty(256 * MIB, dtype=torch.uint8, device=dev)
    secs = 0.5 if args.quick else args.seconds

    def log(msg):
        print(time.strftime("%H:%M:%S"), msg, flush=True)

    def isolated(fn, reps=20):
        """measure_kernels.py's method: L2 flushed before each call, median of the calls."""
        for _ in range(2):
            fn()
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        for i in range(reps):
            flush_buf.zero_()
            starts[i].record()
            fn()
            ends[i].record()
        torch.cuda.synchronize()
        ts = sorted(s.elapsed_time(e) * 1e3 for s, e in zip(starts, ends))
        return ts[reps // 2]

    def sustained(fns, phase):
        """Run the list of calls in a loop: warm-up `secs`, then `secs` measured; per-call times from
        events around each call in every 8th chain."""
        torch.cuda.synchronize()
        t0 = time.time()
        mon.section = phase + ":warmup"
        while time.time() - t0 < secs:
            for f in fns:
                f()
            torch.cuda.synchronize()  # keep the host from running far ahead of the GPU
        mon.section = phase
        e_start = torch.cuda.Event(enable_timing=True)
        e_end = torch.cuda.Event(enable_timing=True)
        n = 0
        per = [[] for _ in fns]
        t1 = time.time()
        e_start.record()
        while time.time() - t1 < secs:
            if n % 8 == 4:  # every 8th chain: events around each call
                evs = [torch.cuda.Event(enable_timing=True) for _ in range(len(fns) + 1)]
                evs[0].record()
                for i, f in enumerate(fns):
                    f()
                    evs[i + 1].record()
                per_chain = evs
            else:
                per_chain = None
                for f in fns:
                    f()
            n += 1
            if per_chain is not None:
                torch.cuda.synchronize()
                for i in range(len(fns)):
                    per[i].append(per_chain[i].elapsed_time(per_chain[i + 1]) * 1e3)
        e_end.record()
        torch.cuda.synchronize()
        mon.section = "idle"
        total_us = e_start.elapsed_time(e_end) * 1e3
        med = []
        for p in per:
            p = sorted(p)
            med.append(p[len(p) // 2] if p else None)
        return total_us / n, n, med

    models = HELD_OUT if args.held_out else LAYERS[:1] if args.quick else LAYERS
    have_fp8 = hasattr(torch, "float8_e4m3fn") and hasattr(torch, "_scaled_mm")
    for name, m, linears in models:
        for dtype in ("bf16", "fp8", "fp8_fast_accum"):
            if dtype != "bf16" and not have_fp8:
                continue
            fns, labels, flops = [], [], []
            keep = []
            for lin, din, dout in linears:
                if dtype == "bf16":
                    x = torch.randn(m, din, device=dev, dtype=torch.bfloat16)
                    w = torch.randn(dout, din, device=dev, dtype=torch.bfloat16)
                    dy = torch.randn(m, dout, device=dev, dtype=torch.bfloat16)
                    keep += [x, w, dy]
                    calls = [("fwd", lambda x=x, w=w: torch.mm(x, w.t())),
                             ("dgrad", lambda dy=dy, w=w: torch.mm(dy, w)),
                             ("wgrad", lambda dy=dy, x=x: torch.mm(dy.t(), x))]
                    shapes = [(m, dout, din), (m, din, dout), (dout, din, m)]
                else:
                    fast = dtype == "fp8_fast_accum"
                    one = torch.tensor(1.0, device=dev, dtype=torch.float32)
                    calls, shapes = [], [(m, dout, din), (m, din, dout), (dout, din, m)]
                    for (pas, (mm, nn, kk)) in zip(("fwd", "dgrad", "wgrad"), shapes):
                        a = (torch.randn(mm, kk, device=dev, dtype=torch.bfloat16) * 0.5).to(torch.float8_e4m3fn)
                        b = (torch.randn(nn, kk, device=dev, dtype=torch.bfloat16) * 0.5).to(torch.float8_e4m3fn)
                        keep += [a, b]
                        calls.append((pas, lambda a=a, b=b, fast=fast: torch._scaled_mm(
                            a, b.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16,
                            use_fast_accum=fast)))
                for (pas, f), (mm, nn, kk) in zip(calls, shapes):
                    fns.append(f)
                    labels.append({"linear": lin, "pass": pas, "m": mm, "n": nn, "k": kk})
                    flops.append(2.0 * mm * nn * kk)
            # training order: forward of each linear, then backward in reverse
            order = [i for i in range(len(fns)) if labels[i]["pass"] == "fwd"]
            order += [i for i in reversed(range(len(fns))) if labels[i]["pass"] != "fwd"]
            fns = [fns[i] for i in order]
            labels = [labels[i] for i in order]
            flops = [flops[i] for i in order]
            phase = "%s/%s" % (name, dtype)
            try:
                mon.section = phase + ":isolated"
                iso = [isolated(f) for f in fns]
                mon.section = "idle"
                chain_us, n, per = sustained(fns, phase)
            except Exception as e:  # noqa: BLE001
                log("%s failed: %r" % (phase, e))
                out["gemm_chains"].append({"name": name, "dtype": dtype, "error": repr(e)[:300]})
                continue
            rows = []
            for lab, fl, t_iso, t_sus in zip(labels, flops, iso, per):
                rows.append(dict(lab, isolated_us=round(t_iso, 2),
                                 sustained_us=round(t_sus, 2) if t_sus else None,
                                 isolated_tflops=round(fl / t_iso / 1e6, 1)))
            iso_sum = sum(iso)
            rec = {"name": name, "dtype": dtype, "tokens": m, "chains": n,
                   "isolated_sum_us": round(iso_sum, 1), "sustained_chain_us": round(chain_us, 1),
                   "sustained_over_isolated": round(chain_us / iso_sum, 4),
                   "sustained_tflops": round(sum(flops) / chain_us / 1e6, 1), "gemms": rows,
                   "monitor": mon.summary(phase), "monitor_isolated": mon.summary(phase + ":isolated")}
            out["gemm_chains"].append(rec)
            log("%s: isolated sum %.0f us, sustained chain %.0f us (x%.3f), %.0f TFLOP/s, clock %s"
                % (phase, iso_sum, chain_us, chain_us / iso_sum, rec["sustained_tflops"],
                   (rec["monitor"] or {}).get("sm_clock_mhz_median")))
            del keep, fns
            torch.cuda.empty_cache()
            with open(args.out, "w") as f:
                json.dump(out, f, indent=1)

    # whole layers through autograd ------------------------------------------------------------
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def make_layer(h, heads, hd, ffn):
        p = {}
        def lin(name, din, dout):
            p[name + ".w"] = (torch.randn(dout, din, device=dev, dtype=torch.bfloat16) * 0.02).requires_grad_()
            p[name + ".b"] = torch.zeros(dout, device=dev, dtype=torch.bfloat16, requires_grad=True)
        lin("qkv", h, 3 * heads * hd)
        lin("proj", heads * hd, h)
        lin("fc1", h, ffn)
        lin("fc2", ffn, h)
        for ln in ("ln1", "ln2"):
            p[ln + ".w"] = torch.ones(h, device=dev, dtype=torch.bfloat16, requires_grad=True)
            p[ln + ".b"] = torch.zeros(h, device=dev, dtype=torch.bfloat16, requires_grad=True)
        return p

    def layer_fwd(p, x, seq, mb, heads, hd, backend):
        h = x.shape[-1]
        y = F.layer_norm(x, (h,), p["ln1.w"], p["ln1.b"])
        qkv = F.linear(y, p["qkv.w"], p["qkv.b"]).view(mb, seq, 3, heads, hd)
        q, k, v = [t.transpose(1, 2) for t in qkv.unbind(2)]
        with sdpa_kernel([backend]):
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        a = a.transpose(1, 2).reshape(mb * seq, heads * hd)
        x = x + F.linear(a, p["proj.w"], p["proj.b"])
        y = F.layer_norm(x, (h,), p["ln2.w"], p["ln2.b"])
        y = F.gelu(F.linear(y, p["fc1.w"], p["fc1.b"]), approximate="tanh")
        return x + F.linear(y, p["fc2.w"], p["fc2.b"])

    for name, seq, mb, h, heads, hd, ffn, nl in ([] if args.held_out else WHOLE_LAYERS[:1] if args.quick else WHOLE_LAYERS):
        for bname, backend in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION)):
            phase = "%s/%s" % (name, bname)
            try:
                layers = [make_layer(h, heads, hd, ffn) for _ in range(nl)]
                x0 = torch.randn(mb * seq, h, device=dev, dtype=torch.bfloat16, requires_grad=True)
                dy = torch.randn(mb * seq, h, device=dev, dtype=torch.bfloat16)

                def step():
                    x = x0
                    for p in layers:
                        x = layer_fwd(p, x, seq, mb, heads, hd, backend)
                    x.backward(dy)
                    for p in layers:
                        for t in p.values():
                            t.grad = None
                    x0.grad = None

                step()
                torch.cuda.synchronize()
                # the host must not be the bottleneck: check the host time of one step
                t = time.time(); step(); host_s = time.time() - t
                torch.cuda.synchronize()
                chain_us, n, _ = sustained([step], phase)
            except Exception as e:  # noqa: BLE001
                log("%s failed: %r" % (phase, e))
                out["layers"].append({"name": name, "attention": bname, "error": repr(e)[:300]})
                continue
            rec = {"name": name, "attention": bname, "seq": seq, "micro_batch": mb, "hidden": h,
                   "heads": heads, "head_dim": hd, "ffn": ffn, "layers": nl, "steps": n,
                   "fwd_bwd_per_layer_us": round(chain_us / nl, 1),
                   "host_enqueue_per_layer_us": round(host_s * 1e6 / nl, 1),
                   "monitor": mon.summary(phase)}
            out["layers"].append(rec)
            log("%s: %.0f us per layer fwd+bwd (host %.0f us), clock %s"
                % (phase, chain_us / nl, host_s * 1e6 / nl, (rec["monitor"] or {}).get("sm_clock_mhz_median")))
            del layers
            torch.cuda.empty_cache()
            with open(args.out, "w") as f:
                json.dump(out, f, indent=1)

    mon.stop()
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    log("wrote " + args.out)


if __name__ == "__main__":
    sys.exit(main())
