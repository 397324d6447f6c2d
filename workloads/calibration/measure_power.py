#!/usr/bin/env python3
"""Measures a GPU's board power in the states mfusim's energy model distinguishes, writes YAML.

Phases (each held for --phase-s seconds while nvidia-smi samples power every 100 ms):
  idle        CUDA context open, nothing running (the GPU stays in P0 as in a training job between
              kernels)
  gemm_bf16   back-to-back bf16 GEMMs 8192^3 (tensor cores saturated: the "busy" power)
  hbm_copy    back-to-back 1 GiB device-to-device copies (memory-bound kernels)
  training    eager training steps of a Llama-style decoder (hidden 2048, 16 layers, seq 2048,
              micro-batch 4, bf16 autocast, fused AdamW): the real mix of GEMM, attention,
              memory-bound kernels and small host gaps, to check the model's
              power = idle + (busy - idle) * utilisation against
  sleep_50    a duty cycle: 50 ms of GEMMs then 50 ms of torch.cuda._sleep-free idle, to see whether
              power follows utilisation linearly between idle and busy

Output (schema mfusim-power/1): per phase the mean, median and p95 of power.draw (W), the mean SM
clock, GPU utilisation (nvidia-smi's "fraction of time a kernel was running"), temperature, and the
phase's own throughput (TFLOP/s, GB/s, step time). Nothing is locked or changed on the GPU.

Run: python3 measure_power.py --out power.yaml [--gpu-name H100-SXM5-80GB] [--phase-s 20]
"""
import argparse
import json
import statistics
import subprocess
import threading
import time

FIELDS = "power.draw,utilization.gpu,clocks.sm,temperature.gpu"


class Sampler:
    """nvidia-smi in loop mode (-lms 100); each line is tagged with the phase running when it came in."""

    def __init__(self):
        self.phase = None
        self.samples = {}
        self.proc = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=" + FIELDS, "--format=csv,noheader,nounits", "-lms", "100"],
            stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            phase = self.phase
            if phase is None:
                continue
            try:
                vals = [float(x) for x in line.strip().split(",")]
            except ValueError:
                continue
            self.samples.setdefault(phase, []).append(vals)

    def stop(self):
        self.proc.terminate()


def summarize(rows):
    if not rows:
        return {}
    power = sorted(r[0] for r in rows)
    return {
        "samples": len(rows),
        "power_mean_w": round(statistics.fmean(power), 1),
        "power_median_w": round(statistics.median(power), 1),
        "power_p95_w": round(power[min(len(power) - 1, int(0.95 * len(power)))], 1),
        "utilization_mean_pct": round(statistics.fmean(r[1] for r in rows), 1),
        "sm_clock_mean_mhz": round(statistics.fmean(r[2] for r in rows), 0),
        "temperature_max_c": max(r[3] for r in rows),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--gpu-name", default="H100-SXM5-80GB")
    ap.add_argument("--phase-s", type=float, default=20.0)
    args = ap.parse_args()

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    dev = torch.device("cuda")
    info = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,power.limit,clocks.max.sm",
                           "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    print("device:", info, flush=True)
    sampler = Sampler()
    results = {}
    settle = 3.0  # seconds discarded at the start of each phase (power averaging window, clocks ramping)

    def run_phase(name, body):
        sampler.phase = None
        t0 = time.time()
        extra = body(t0 + settle, lambda: setattr(sampler, "phase", name), args.phase_s)
        torch.cuda.synchronize()
        sampler.phase = None
        results[name] = dict(summarize(sampler.samples.get(name, [])), **(extra or {}))
        print(name, json.dumps(results[name]), flush=True)

    def idle(start_at, begin, phase_s):
        torch.cuda.synchronize()
        while time.time() < start_at:
            time.sleep(0.05)
        begin()
        end_at = time.time() + phase_s
        while time.time() < end_at:
            time.sleep(0.05)

    a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    c = torch.empty(8192, 8192, device=dev, dtype=torch.bfloat16)

    def gemm(start_at, begin, phase_s):
        n = 0
        began = False
        t_begin = 0.0
        while True:
            for _ in range(20):
                torch.mm(a, b, out=c)
            torch.cuda.synchronize()
            now = time.time()
            if not began and now >= start_at:
                begin()
                began, t_begin, n = True, now, 0
                end_at = now + phase_s
                continue
            if began:
                n += 20
                if now >= end_at:
                    return {"tflops": round(n * 2 * 8192 ** 3 / (now - t_begin) / 1e12, 1)}

    src = torch.empty(1 << 30, device=dev, dtype=torch.uint8).random_()
    dst = torch.empty_like(src)

    def copy(start_at, begin, phase_s):
        n = 0
        began = False
        t_begin = 0.0
        while True:
            for _ in range(10):
                dst.copy_(src)
            torch.cuda.synchronize()
            now = time.time()
            if not began and now >= start_at:
                begin()
                began, t_begin, n = True, now, 0
                end_at = now + phase_s
                continue
            if began:
                n += 10
                if now >= end_at:
                    return {"gbps": round(n * 2 * (1 << 30) / (now - t_begin) / 1e9, 1)}

    def duty(start_at, begin, phase_s):
        # 50 ms of back-to-back GEMMs, then 50 ms with nothing queued; repeated.
        began = False
        busy = 0.0
        t_begin = 0.0
        while True:
            t0 = time.time()
            while time.time() - t0 < 0.05:
                for _ in range(4):
                    torch.mm(a, b, out=c)
                torch.cuda.synchronize()
            t1 = time.time()
            time.sleep(0.05)
            now = time.time()
            if not began and now >= start_at:
                begin()
                began, t_begin, busy = True, now, 0.0
                end_at = now + phase_s
                continue
            if began:
                busy += t1 - t0
                if now >= end_at:
                    return {"busy_fraction": round(busy / (now - t_begin), 3)}

    hidden, layers, heads, kv, ffn, vocab, seq, mb = 2048, 16, 16, 4, 5632, 32000, 2048, 4
    hd = hidden // heads

    class Block(nn.Module):
        def __init__(s):
            super().__init__()
            s.n1 = nn.RMSNorm(hidden)
            s.qkv = nn.Linear(hidden, (heads + 2 * kv) * hd, bias=False)
            s.proj = nn.Linear(hidden, hidden, bias=False)
            s.n2 = nn.RMSNorm(hidden)
            s.fc1 = nn.Linear(hidden, 2 * ffn, bias=False)
            s.fc2 = nn.Linear(ffn, hidden, bias=False)

        def forward(s, x):
            bsz, t, _ = x.shape
            q, k, v = s.qkv(s.n1(x)).split([heads * hd, kv * hd, kv * hd], dim=-1)
            q = q.view(bsz, t, heads, hd).transpose(1, 2)
            k = k.view(bsz, t, kv, hd).transpose(1, 2)
            v = v.view(bsz, t, kv, hd).transpose(1, 2)
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            x = x + s.proj(o.transpose(1, 2).reshape(bsz, t, hidden))
            g, u = s.fc1(s.n2(x)).chunk(2, dim=-1)
            return x + s.fc2(F.silu(g) * u)

    class Model(nn.Module):
        def __init__(s):
            super().__init__()
            s.emb = nn.Embedding(vocab, hidden)
            s.blocks = nn.ModuleList(Block() for _ in range(layers))
            s.norm = nn.RMSNorm(hidden)
            s.head = nn.Linear(hidden, vocab, bias=False)

        def forward(s, ids):
            x = s.emb(ids)
            for blk in s.blocks:
                x = blk(x)
            return s.head(s.norm(x))

    def training(start_at, begin, phase_s):
        model = Model().to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        ids = torch.randint(0, vocab, (mb, seq), device=dev)
        began = False
        steps = 0
        t_begin = 0.0
        while True:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = F.cross_entropy(model(ids).float().view(-1, vocab), ids.view(-1))
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            now = time.time()
            if not began and now >= start_at:
                begin()
                began, t_begin, steps = True, now, 0
                end_at = now + phase_s
                continue
            if began:
                steps += 1
                if now >= end_at:
                    params = sum(p.numel() for p in model.parameters())
                    return {"step_time_ms": round((now - t_begin) / steps * 1e3, 2), "params": params,
                            "model": "llama-style hidden %d layers %d heads %d kv %d ffn %d vocab %d seq %d "
                                     "micro-batch %d" % (hidden, layers, heads, kv, ffn, vocab, seq, mb)}

    run_phase("idle", idle)
    run_phase("gemm_bf16", gemm)
    run_phase("hbm_copy", copy)
    run_phase("duty_50", duty)
    run_phase("training", training)
    sampler.stop()

    lines = ["# mfusim power measurement, written by workloads/calibration/measure_power.py.",
             "# power.draw sampled by nvidia-smi every 100 ms (the driver's 1 s moving average on Hopper);",
             "# first %g s of each phase discarded; clocks and power limit as found (not locked)." % settle,
             "schema: mfusim-power/1",
             "gpu: %s" % args.gpu_name,
             "measured_on: {nvidia_smi: %s, torch: %s, date: %s, phase_s: %g}" % (
                 json.dumps(info), json.dumps(torch.__version__), time.strftime("%Y-%m-%d"), args.phase_s),
             "phases:"]
    for name, r in results.items():
        lines.append("  %s: %s" % (name, json.dumps(r, sort_keys=False)))
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
