#!/usr/bin/env python3
"""Ground-truth single-GPU training steps for validating mfusim's step-time and memory predictions.

Run on the GPU to be measured (one GPU, nothing else on it):

    python3 workloads/calibration/measure_training_steps.py --out training_steps.yaml \
        [--log training_steps.log] [--models gpt-350m,gpt-1.3b,llama-1b,gpt-2.7b,llama-3b]

Each model is measured in its own Python process (a fresh CUDA context, so that one model's cached
memory or an out-of-memory error does not colour the next); the YAML is rewritten after every model.

Models are plain eager PyTorch decoder-only transformers (nn.Linear, nn.Embedding, F.layer_norm /
nn.RMSNorm, F.scaled_dot_product_attention restricted to the flash backend; no torch.compile, no
fused kernels beyond what eager PyTorch calls). Training setup: parameters in fp32 (master weights),
forward and loss under torch.autocast(dtype=torch.bfloat16), AdamW(fused=True), gradient
accumulation 1, micro-batch sizes 1, 2, 4, 8, with no recompute or full recompute
(torch.utils.checkpoint of every transformer block, use_reentrant=False).

A step is zero_grad(set_to_none=True) + forward + loss + backward + optimizer.step(); it is timed with
CUDA events (the host synchronizes after each step); 3 warm-up steps, then the median, 10th and 90th
percentile over 10 timed steps (MFUSIM_TIMED_STEPS=N for N; MFUSIM_CPUS=a,b pins the workers to
those host cores). Peak memory: torch.cuda.max_memory_allocated / max_memory_reserved
over warm-up and timed steps, after reset_peak_memory_stats() right after the model and optimizer are
built (so the peaks include the weights, gradients and AdamW states).

No profiler runs in a timing process unless asked (--count-kernels, --kernel-profile): Kineto leaves
CUPTI subscribed after a torch.profiler session ends unless TEARDOWN_CUPTI=1 (pytorch/pytorch issue
144455; PR 146604 measured training 10-20% slower after profiling), which slows every later kernel
launch of the process. Runs 1-5 profiled one step after each configuration's timed steps, so every
configuration but a worker's first was timed with CUPTI still attached; from run 6 on the timed steps
run without it, and where a profiler is asked for, TEARDOWN_CUPTI=1 detaches CUPTI when it ends.
"""

import argparse
import datetime
import gc
import json
import math
import os
import subprocess
import sys
import time

# Detach CUPTI when a profiler session ends (see the docstring); read by Kineto at profiler stop, so it
# must be in the environment before torch starts (the workers inherit it).
os.environ.setdefault("TEARDOWN_CUPTI", "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure_kernels import Monitor, comment_block, emit_yaml, nvidia_smi_query, write_atomic  # noqa: E402

PEAK_BF16_TFLOPS = 989.4
GIB = float(1 << 30)

# Exact hyperparameters; vocab 50257 (GPT-2) is padded to 50304 (a multiple of 128, as Megatron-LM and
# nanoGPT do) so that the LM-head GEMM is aligned.
MODELS = {
    "gpt-350m": dict(family="gpt", layers=24, hidden=1024, heads=16, kv_heads=16, ffn=4096, vocab=50304,
                     seq=2048, norm="layernorm", activation="gelu", position="learned",
                     tied_embeddings=True),
    "gpt-1.3b": dict(family="gpt", layers=24, hidden=2048, heads=16, kv_heads=16, ffn=8192, vocab=50304,
                     seq=2048, norm="layernorm", activation="gelu", position="learned",
                     tied_embeddings=True),
    "llama-1b": dict(family="llama", layers=16, hidden=2048, heads=32, kv_heads=8, ffn=5632, vocab=32000,
                     seq=2048, norm="rmsnorm", activation="swiglu", position="rope",
                     tied_embeddings=False),
    "gpt-2.7b": dict(family="gpt", layers=32, hidden=2560, heads=32, kv_heads=32, ffn=10240, vocab=50304,
                     seq=2048, norm="layernorm", activation="gelu", position="learned",
                     tied_embeddings=True),
    "llama-3b": dict(family="llama", layers=26, hidden=3072, heads=24, kv_heads=8, ffn=8192, vocab=32000,
                     seq=2048, norm="rmsnorm", activation="swiglu", position="rope",
                     tied_embeddings=False),
}
# Host-overhead probes: the same block code at a negligible GPU cost (hidden 128, seq 128), at two depths,
# so that step time = host dispatch time and its slope over layers is the eager host cost per block
# (forward + backward + optimizer share). Run with --models host-probes.
for _fam, _norm, _act, _pos, _tied, _kv in (("gpt", "layernorm", "gelu", "learned", True, 2),
                                            ("llama", "rmsnorm", "swiglu", "rope", False, 1)):
    for _layers in (8, 32):
        MODELS["%s-probe-%d" % (_fam, _layers)] = dict(
            family=_fam, layers=_layers, hidden=128, heads=2, kv_heads=_kv, ffn=512, vocab=512, seq=128,
            norm=_norm, activation=_act, position=_pos, tied_embeddings=_tied)
HOST_PROBES = "gpt-probe-8,gpt-probe-32,llama-probe-8,llama-probe-32"
DEFAULT_MODELS = "gpt-350m,llama-1b,gpt-1.3b,gpt-2.7b,llama-3b"
MICRO_BATCHES = [1, 2, 4, 8]
RECOMPUTE = ["none", "full"]
WARMUP_STEPS = 3
# MFUSIM_TIMED_STEPS overrides the timed-step count (the workers inherit the environment).
TIMED_STEPS = int(os.environ.get("MFUSIM_TIMED_STEPS", "10"))

FLOPS_FORMULA = (
    "model_flops_per_step = 6 * N_matmul * T + 12 * layers * (heads * head_dim) * seq * T, where "
    "T = micro_batch * seq (tokens per step), head_dim = hidden / heads, and N_matmul = layers * "
    "(hidden * (heads + 2 * kv_heads) * head_dim [QKV] + heads * head_dim * hidden [attention output] + "
    "c * hidden * ffn [MLP; c = 2 for gelu, 3 for swiglu]) + vocab * hidden [LM head, counted also when "
    "tied]. The attention term counts QK^T and PV over the full s x s (non-causal convention, "
    "forward 4*s*hidden FLOPs per token per layer, backward twice that) although flash attention skips "
    "the masked half; recompute is not counted (model FLOPs, not hardware FLOPs); biases, norms, "
    "activations, softmax, embeddings, loss and optimizer are not counted. "
    "mfu = model_flops_per_step / step_time_s / 989.4e12 (H100 SXM dense bf16 peak).")

MODEL_DEFINITIONS = {
    "common": "decoder-only, pre-norm residual blocks x = x + attn(norm1(x)); x = x + mlp(norm2(x)); final "
              "norm; LM head; no dropout; parameters fp32, init normal(0, 0.02) (biases and norm weights "
              "at 0/1); forward and loss under torch.autocast(cuda, bfloat16): GEMMs and attention run in "
              "bf16, the residual stream stays fp32 (fp32 embeddings + bf16 branch outputs), norms and "
              "cross-entropy run in fp32 (autocast's fp32 list); loss = F.cross_entropy over the "
              "micro_batch*seq logits (bf16 logits upcast to fp32); random token ids",
    "attention": "fused QKV nn.Linear(hidden, (heads + 2*kv_heads)*head_dim); q, k, v viewed as "
                 "[b, s, h, d] and transposed to strided [b, h, s, d] views (no copy); "
                 "F.scaled_dot_product_attention(is_causal=True) with only the flash backend enabled; "
                 "output transposed back and reshaped (one copy); output projection nn.Linear(hidden, "
                 "hidden)",
    "gpt": "learned absolute position embedding [seq, hidden]; LayerNorm with bias (eps 1e-5); all "
           "nn.Linear with bias; MLP nn.Linear(hidden, ffn) -> F.gelu (exact erf) -> nn.Linear(ffn, "
           "hidden); LM head tied to the token embedding (F.linear(x, wte.weight), no bias)",
    "llama": "RoPE (theta 10000, rotate-half layout, cos/sin in bf16 applied to q and k); RMSNorm "
             "(weight only, eps 1e-5); no biases; GQA with kv_heads key/value heads "
             "(SDPA enable_gqa=True, or k/v repeat_interleave if the flash backend rejects it: see "
             "measured_on.notes); SwiGLU MLP: nn.Linear(hidden, 2*ffn) -> chunk -> F.silu(gate) * up "
             "-> nn.Linear(ffn, hidden); untied LM head nn.Linear(hidden, vocab, bias=False)",
    "recompute_full": "torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False) around every "
                      "transformer block (embeddings, final norm, LM head and loss not recomputed)",
}


def head_dim(c):
    return c["hidden"] // c["heads"]


def matmul_params(c):
    d = head_dim(c)
    mlp = (2 if c["activation"] == "gelu" else 3) * c["hidden"] * c["ffn"]
    per_layer = c["hidden"] * (c["heads"] + 2 * c["kv_heads"]) * d + c["heads"] * d * c["hidden"] + mlp
    return c["layers"] * per_layer + c["vocab"] * c["hidden"]


def total_params(c):
    """All trainable parameters (tied embedding counted once); must equal the torch count."""
    h, d, L = c["hidden"], head_dim(c), c["layers"]
    qkv_out = (c["heads"] + 2 * c["kv_heads"]) * d
    if c["family"] == "gpt":
        per_layer = (h * qkv_out + qkv_out) + (h * h + h) + (h * c["ffn"] + c["ffn"]) + (c["ffn"] * h + h) \
            + 2 * 2 * h                                   # two LayerNorms, weight + bias
        emb = c["vocab"] * h + c["seq"] * h
        final = 2 * h
        head = 0 if c["tied_embeddings"] else c["vocab"] * h
    else:
        per_layer = h * qkv_out + h * h + h * 2 * c["ffn"] + c["ffn"] * h + 2 * h
        emb = c["vocab"] * h
        final = h
        head = 0 if c["tied_embeddings"] else c["vocab"] * h
    return L * per_layer + emb + final + head


def model_flops(c, micro_batch):
    t = micro_batch * c["seq"]
    return 6.0 * matmul_params(c) * t + 12.0 * c["layers"] * c["heads"] * head_dim(c) * c["seq"] * t


# ----------------------------------------------------------------------------- worker (one model)
def worker(name, jsonl_path, deadline, micro_batches, recompute_modes):
    # MFUSIM_CPUS=2,3 pins the worker (its Python thread issues every kernel of an eager step) to those
    # cores, so that host-bound steps do not move between cores or share one with other processes.
    cpus = os.environ.get("MFUSIM_CPUS")
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint

    cfg = MODELS[name]
    dev = torch.device("cuda")

    def emit(obj):
        with open(jsonl_path, "a") as f:
            f.write(json.dumps(obj) + "\n")

    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        flash_only = lambda: sdpa_kernel([SDPBackend.FLASH_ATTENTION])
    except Exception:  # noqa: BLE001
        flash_only = lambda: torch.backends.cuda.sdp_kernel(enable_flash=True, enable_math=False,
                                                            enable_mem_efficient=False)

    # Can flash do GQA natively (enable_gqa) forward and backward?
    gqa_native = False
    if cfg["kv_heads"] != cfg["heads"]:
        try:
            q = torch.randn(1, 8, 256, 64, device=dev, dtype=torch.bfloat16, requires_grad=True)
            k = torch.randn(1, 2, 256, 64, device=dev, dtype=torch.bfloat16, requires_grad=True)
            v = torch.randn(1, 2, 256, 64, device=dev, dtype=torch.bfloat16, requires_grad=True)
            with flash_only():
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
                o.sum().backward()
            torch.cuda.synchronize()
            gqa_native = True
        except Exception as e:  # noqa: BLE001
            emit({"info": "%s: flash SDPA with enable_gqa failed (%s); using repeat_interleave of k/v"
                  % (name, repr(e)[:200])})
        else:
            emit({"info": "%s: GQA through SDPA enable_gqa=True on the flash backend" % name})

    class GPTBlock(nn.Module):
        def __init__(s, c):
            super().__init__()
            h = c["hidden"]
            s.nh, s.hd = c["heads"], head_dim(c)
            s.ln1 = nn.LayerNorm(h, eps=1e-5)
            s.qkv = nn.Linear(h, 3 * h)
            s.proj = nn.Linear(h, h)
            s.ln2 = nn.LayerNorm(h, eps=1e-5)
            s.fc1 = nn.Linear(h, c["ffn"])
            s.fc2 = nn.Linear(c["ffn"], h)

        def forward(s, x):
            b, t, h = x.shape
            qkv = s.qkv(s.ln1(x)).view(b, t, 3, s.nh, s.hd)
            q, k, v = [z.transpose(1, 2) for z in qkv.unbind(2)]
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + s.proj(a.transpose(1, 2).reshape(b, t, h))
            return x + s.fc2(F.gelu(s.fc1(s.ln2(x))))

    def rms_module(h):
        if hasattr(nn, "RMSNorm"):
            return nn.RMSNorm(h, eps=1e-5)

        class RMS(nn.Module):
            def __init__(s):
                super().__init__()
                s.weight = nn.Parameter(torch.ones(h))

            def forward(s, x):
                xf = x.float()
                return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)) * s.weight
        return RMS()

    def rotate_half(x):
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((-x2, x1), dim=-1)

    class LlamaBlock(nn.Module):
        def __init__(s, c):
            super().__init__()
            h = c["hidden"]
            s.nh, s.nkv, s.hd, s.ffn = c["heads"], c["kv_heads"], head_dim(c), c["ffn"]
            s.norm1 = rms_module(h)
            s.qkv = nn.Linear(h, (s.nh + 2 * s.nkv) * s.hd, bias=False)
            s.proj = nn.Linear(s.nh * s.hd, h, bias=False)
            s.norm2 = rms_module(h)
            s.fc1 = nn.Linear(h, 2 * c["ffn"], bias=False)
            s.fc2 = nn.Linear(c["ffn"], h, bias=False)

        def forward(s, x, cos, sin):
            b, t, h = x.shape
            qkv = s.qkv(s.norm1(x))
            q, k, v = qkv.split([s.nh * s.hd, s.nkv * s.hd, s.nkv * s.hd], dim=-1)
            q = q.view(b, t, s.nh, s.hd)
            k = k.view(b, t, s.nkv, s.hd)
            v = v.view(b, t, s.nkv, s.hd)
            cs, sn = cos.to(q.dtype), sin.to(q.dtype)
            q = q * cs + rotate_half(q) * sn
            k = k * cs + rotate_half(k) * sn
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            if s.nkv != s.nh:
                if gqa_native:
                    a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
                else:
                    rep = s.nh // s.nkv
                    a = F.scaled_dot_product_attention(q, k.repeat_interleave(rep, 1),
                                                       v.repeat_interleave(rep, 1), is_causal=True)
            else:
                a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + s.proj(a.transpose(1, 2).reshape(b, t, s.nh * s.hd))
            gate, up = s.fc1(s.norm2(x)).chunk(2, dim=-1)
            return x + s.fc2(F.silu(gate) * up)

    class Model(nn.Module):
        def __init__(s, c, recompute):
            super().__init__()
            s.c, s.recompute = c, recompute
            h = c["hidden"]
            s.wte = nn.Embedding(c["vocab"], h)
            if c["family"] == "gpt":
                s.wpe = nn.Embedding(c["seq"], h)
                s.blocks = nn.ModuleList([GPTBlock(c) for _ in range(c["layers"])])
                s.norm = nn.LayerNorm(h, eps=1e-5)
                s.head = None
            else:
                s.blocks = nn.ModuleList([LlamaBlock(c) for _ in range(c["layers"])])
                s.norm = rms_module(h)
                s.head = nn.Linear(h, c["vocab"], bias=False)
                d = head_dim(c)
                inv = 1.0 / (10000.0 ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
                f = torch.outer(torch.arange(c["seq"], dtype=torch.float32), inv)
                emb = torch.cat((f, f), dim=-1)                        # [seq, d]
                s.register_buffer("cos", emb.cos()[None, :, None, :], persistent=False)
                s.register_buffer("sin", emb.sin()[None, :, None, :], persistent=False)
            for n_, p in s.named_parameters():
                if p.dim() >= 2:
                    nn.init.normal_(p, std=0.02)
                elif n_.endswith("bias"):
                    nn.init.zeros_(p)
                else:
                    nn.init.ones_(p)

        def forward(s, idx, targets):
            b, t = idx.shape
            x = s.wte(idx)
            if s.c["family"] == "gpt":
                x = x + s.wpe.weight[:t]
                extra = ()
            else:
                extra = (s.cos[:, :t], s.sin[:, :t])
            for blk in s.blocks:
                if s.recompute == "full":
                    x = checkpoint(blk, x, *extra, use_reentrant=False)
                else:
                    x = blk(x, *extra)
            x = s.norm(x)
            logits = F.linear(x, s.wte.weight) if s.head is None else s.head(x)
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    def profile_phases(run_id, model, opt, idx, tgt):
        """One more step, each phase under its own torch.profiler (CUDA activity only, synchronized
        before and after), so every GPU operation is attributed to forward (with the loss), backward or
        optimizer: per phase, each kernel name with its count and total device time."""
        from torch.profiler import ProfilerActivity, profile
        out = {"id": run_id, "phases": {}}
        state = {}

        def fwd():
            with torch.autocast("cuda", dtype=torch.bfloat16):
                state["loss"] = model(idx, tgt)

        def bwd():
            state.pop("loss").backward()

        with flash_only():
            opt.zero_grad(set_to_none=True)
            for phase, fn in (("forward", fwd), ("backward", bwd), ("optimizer", opt.step)):
                torch.cuda.synchronize()
                with profile(activities=[ProfilerActivity.CUDA]) as prof:
                    fn()
                    torch.cuda.synchronize()
                agg = {}
                for e in prof.events():
                    if not str(getattr(e, "device_type", "")).endswith("CUDA"):
                        continue
                    us = e.time_range.elapsed_us()
                    key = e.name[:200]
                    c, t = agg.get(key, (0, 0.0))
                    agg[key] = (c + 1, t + us)
                rows = sorted(([k, c, round(t, 1)] for k, (c, t) in agg.items()), key=lambda r: -r[2])
                out["phases"][phase] = {"total_us": round(sum(r[2] for r in rows), 1), "kernels": rows}
        return out

    def pct(xs, q):
        xs = sorted(xs)
        return xs[int(round(q * (len(xs) - 1)))]

    for recompute in recompute_modes:
        for mb in micro_batches:
            run_id = "%s-mb%d-%s" % (name, mb, "recompute" if recompute == "full" else "norecompute")
            row = {"id": run_id, "model": dict(cfg), "micro_batch": mb, "recompute": recompute}
            if time.time() > deadline:
                row["status"] = "skipped"
                row["note"] = "not run: time budget of the measuring call reached"
                emit({"run": row})
                continue
            model = opt = idx = tgt = loss = None
            t_cfg = time.time()
            try:
                gc.collect()
                torch.cuda.empty_cache()
                torch.manual_seed(1234)
                with torch.device(dev):
                    model = Model(cfg, recompute)
                nparams = sum(p.numel() for p in model.parameters())
                row["model"]["params"] = nparams
                if nparams != total_params(cfg):
                    emit({"info": "%s: torch counts %d parameters, total_params() says %d"
                          % (name, nparams, total_params(cfg))})
                opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1,
                                        fused=True)
                idx = torch.randint(0, cfg["vocab"], (mb, cfg["seq"]), device=dev)
                tgt = torch.randint(0, cfg["vocab"], (mb, cfg["seq"]), device=dev)
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                weights_gib = torch.cuda.memory_allocated() / GIB
                steps, fwd, bwd, optt, host = [], [], [], [], []
                with flash_only():
                    for i in range(WARMUP_STEPS + TIMED_STEPS):
                        ev = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
                        torch.cuda.synchronize()
                        th = time.perf_counter()
                        ev[0].record()
                        opt.zero_grad(set_to_none=True)
                        with torch.autocast("cuda", dtype=torch.bfloat16):
                            loss = model(idx, tgt)
                        ev[1].record()
                        loss.backward()
                        ev[2].record()
                        opt.step()
                        ev[3].record()
                        th = time.perf_counter() - th
                        torch.cuda.synchronize()
                        lv = float(loss.detach())
                        loss = None
                        if not math.isfinite(lv):
                            raise RuntimeError("non-finite loss %r" % lv)
                        if i >= WARMUP_STEPS:
                            steps.append(ev[0].elapsed_time(ev[3]) * 1e-3)
                            fwd.append(ev[0].elapsed_time(ev[1]) * 1e-3)
                            bwd.append(ev[1].elapsed_time(ev[2]) * 1e-3)
                            optt.append(ev[2].elapsed_time(ev[3]) * 1e-3)
                            host.append(th)
                        if time.time() > deadline + 60:
                            raise TimeoutError("deadline passed during steps")
                med = pct(steps, 0.5) if len(steps) % 2 else 0.5 * (sorted(steps)[len(steps) // 2 - 1]
                                                                    + sorted(steps)[len(steps) // 2])
                flops = model_flops(cfg, mb)
                row.update({
                    "status": "ok",
                    "step_time_s": med,
                    "step_time_s_p10": pct(steps, 0.1),
                    "step_time_s_p90": pct(steps, 0.9),
                    "peak_allocated_gib": torch.cuda.max_memory_allocated() / GIB,
                    "peak_reserved_gib": torch.cuda.max_memory_reserved() / GIB,
                    "tokens_per_s": mb * cfg["seq"] / med,
                    "model_flops_per_step": flops,
                    "mfu": flops / med / (PEAK_BF16_TFLOPS * 1e12),
                    "fwd_time_s": pct(fwd, 0.5),
                    "bwd_time_s": pct(bwd, 0.5),
                    "optimizer_time_s": pct(optt, 0.5),
                    "host_enqueue_time_s": pct(host, 0.5),
                    "weights_gib": weights_gib,
                    "allocated_after_step_gib": torch.cuda.memory_allocated() / GIB,
                    "final_loss": lv,
                })
                # one more step under the profiler, after the timed ones (--count-kernels only: see the
                # docstring on profiling in a timing process): how many GPU operations (kernels,
                # memsets, memcpys) a step launches
                if os.environ.get("MFUSIM_COUNT_KERNELS"):
                    try:
                        from torch.profiler import ProfilerActivity, profile
                        with flash_only():
                            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                                opt.zero_grad(set_to_none=True)
                                with torch.autocast("cuda", dtype=torch.bfloat16):
                                    loss = model(idx, tgt)
                                loss.backward()
                                opt.step()
                                torch.cuda.synchronize()
                            loss = None
                        n_ops = n_mem = 0
                        for e in prof.events():
                            if str(getattr(e, "device_type", "")).endswith("CUDA"):
                                n_ops += 1
                                if e.name.lower().startswith(("memset", "memcpy")):
                                    n_mem += 1
                        row["gpu_ops_per_step"] = n_ops
                        row["gpu_memops_per_step"] = n_mem
                    except Exception as e:  # noqa: BLE001
                        emit({"info": "%s: kernel count failed (%s)" % (name, repr(e)[:200])})
                if os.environ.get("MFUSIM_KERNEL_PROFILE"):
                    try:
                        emit({"kernels": profile_phases(run_id, model, opt, idx, tgt)})
                    except Exception as e:  # noqa: BLE001
                        emit({"info": "%s: kernel profile failed (%s)" % (run_id, repr(e)[:200])})
            except torch.cuda.OutOfMemoryError as e:
                row.update({"status": "oom",
                            "peak_allocated_gib": torch.cuda.max_memory_allocated() / GIB,
                            "peak_reserved_gib": torch.cuda.max_memory_reserved() / GIB,
                            "model_flops_per_step": model_flops(cfg, mb),
                            "note": str(e).split("\n")[0][:300]})
            except Exception as e:  # noqa: BLE001
                row.update({"status": "error", "note": repr(e)[:400]})
            row.setdefault("model", dict(cfg)).setdefault("params", total_params(cfg))
            row["seconds_to_measure"] = time.time() - t_cfg
            emit({"run": row})
            print("  %s: %s %s" % (run_id, row["status"],
                                    "%.4f s, mfu %.3f, peak %.2f GiB" % (row["step_time_s"], row["mfu"],
                                                                         row["peak_allocated_gib"])
                                    if row["status"] == "ok" else row.get("note", "")), flush=True)
            del model, opt, idx, tgt, loss
            gc.collect()
            torch.cuda.empty_cache()


# ----------------------------------------------------------------------------- driver
RUN_KEYS = ["id", "model", "micro_batch", "recompute", "status", "step_time_s", "step_time_s_p10",
            "step_time_s_p90", "peak_allocated_gib", "peak_reserved_gib", "tokens_per_s",
            "model_flops_per_step", "mfu", "fwd_time_s", "bwd_time_s", "optimizer_time_s", "host_enqueue_time_s",
            "gpu_ops_per_step", "gpu_memops_per_step", "weights_gib",
            "allocated_after_step_gib", "final_loss", "seconds_to_measure", "note"]
MODEL_KEYS = ["family", "layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "seq", "norm",
              "activation", "position", "tied_embeddings", "params"]


def order_row(r):
    out = {}
    for k in RUN_KEYS:
        if k == "model":
            out["model"] = {mk: r["model"][mk] for mk in MODEL_KEYS if mk in r["model"]}
        elif k in r:
            out[k] = r[k]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="YAML file to write")
    ap.add_argument("--log", default=None)
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--micro-batches", default=",".join(map(str, MICRO_BATCHES)))
    ap.add_argument("--recompute", default=",".join(RECOMPUTE))
    ap.add_argument("--budget-s", type=float, default=480.0, help="start no new configuration after this")
    ap.add_argument("--gpu-name", default="H100-SXM5-80GB")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--jsonl", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--check", action="store_true", help="print the models' parameter and FLOP counts")
    ap.add_argument("--count-kernels", action="store_true",
                    help="after each configuration's timed steps, count a step's GPU operations under "
                         "torch.profiler (gpu_ops_per_step); off by default: see the docstring")
    ap.add_argument("--kernel-profile", default=None, metavar="JSON",
                    help="also profile one more step per configuration, phase by phase, and write each "
                         "phase's kernels (name, count, total device time) to this JSON file")
    args = ap.parse_args()
    if args.models == "host-probes":
        args.models = HOST_PROBES
    mbs = [int(x) for x in args.micro_batches.split(",")]
    rcs = [x for x in args.recompute.split(",") if x]

    if args.check:
        for n in args.models.split(","):
            c = MODELS[n]
            print("%-9s params %.4g  N_matmul %.4g  flops/step(mb=1) %.4g" % (
                n, total_params(c), matmul_params(c), model_flops(c, 1)))
        return
    if args.worker:
        worker(args.worker, args.jsonl, args.deadline, mbs, rcs)
        return

    import torch
    if args.kernel_profile:
        os.environ["MFUSIM_KERNEL_PROFILE"] = "1"  # inherited by the workers
    if args.count_kernels:
        os.environ["MFUSIM_COUNT_KERNELS"] = "1"
    profiles = []
    t_start = time.time()
    deadline = t_start + args.budget_s
    logf = open(args.log, "a") if args.log else None

    def log(msg):
        line = "[%7.1fs] %s" % (time.time() - t_start, msg)
        print(line, flush=True)
        if logf:
            logf.write(line + "\n")
            logf.flush()

    props = torch.cuda.get_device_properties(0)
    smi = nvidia_smi_query("name,driver_version,clocks.sm,clocks.max.sm,power.limit,temperature.gpu")
    log("device %s, torch %s, cuda %s, %s" % (props.name, torch.__version__, torch.version.cuda, smi))
    mon = Monitor()
    mon.start()
    mon.section = "training"
    import tempfile
    out_dir = tempfile.mkdtemp(prefix="mfusim-steps-")
    runs, infos = [], []

    def write():
        s = mon.summary("training") or {}
        doc = {
            "schema": "mfusim-training-steps/1",
            "gpu": args.gpu_name,
            "measured_on": {
                "device_name": props.name,
                "driver": smi.get("driver_version", "unknown"),
                "cuda": torch.version.cuda,
                "torch": torch.__version__,
                "date": datetime.date.today().isoformat(),
                "sm_clock_mhz": s.get("sm_clock_mhz_median", -1.0),
                "notes": ("clocks not locked; nvidia-smi during the runs: sm median %s min %s MHz (max %s), "
                          "power max %s W (limit %s), temp max %s C; PYTORCH_CUDA_ALLOC_CONF=%s; %d warm-up + "
                          "%d timed steps per run; %s" % (
                              s.get("sm_clock_mhz_median"), s.get("sm_clock_mhz_min"),
                              smi.get("clocks.max.sm"), s.get("power_w_max"), smi.get("power.limit"),
                              s.get("temp_c_max"), os.environ.get("PYTORCH_CUDA_ALLOC_CONF", "(unset)"),
                              WARMUP_STEPS, TIMED_STEPS, " ".join(sorted(set(infos))))),
            },
            "flops_formula": FLOPS_FORMULA,
            "runs": [order_row(r) for r in runs],
        }
        header = comment_block(
            "mfusim single-GPU training-step ground truth, written by "
            "workloads/calibration/measure_training_steps.py. Model definitions:", MODEL_DEFINITIONS)
        header += ("# Extra keys per run beyond the schema: fwd_time_s / bwd_time_s / optimizer_time_s (median "
                   "phase times;\n#     fwd includes zero_grad and the loss), weights_gib (allocated after "
                   "building model and\n#     optimizer), allocated_after_step_gib (weights + grads + AdamW "
                   "states), host_enqueue_time_s (median host time to\n#     queue one step; close to step_time_s means "
                   "the step is bound by eager dispatch on the CPU; once ~1000 launches are\n#     queued the host "
                   "blocks, so for GPU-bound steps it is not a CPU cost), gpu_ops_per_step and\n#     "
                   "gpu_memops_per_step (GPU operations of one step, from torch.profiler, the second the\n#     "
                   "memsets/memcpys among them), final_loss, note.\n")
        write_atomic(args.out, header + emit_yaml(doc))

    for name in args.models.split(","):
        jsonl = os.path.join(out_dir, "steps-%s.jsonl" % name)
        if os.path.exists(jsonl):
            os.remove(jsonl)
        log("== %s (%s)" % (name, MODELS[name]))
        remaining = deadline - time.time()
        if remaining < 15:
            for rc in rcs:
                for mb in mbs:
                    runs.append({"id": "%s-mb%d-%s" % (name, mb, "recompute" if rc == "full" else "norecompute"),
                                 "model": dict(MODELS[name], params=total_params(MODELS[name])),
                                 "micro_batch": mb, "recompute": rc, "status": "skipped",
                                 "note": "not run: time budget of the measuring call reached"})
            write()
            continue
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--jsonl", jsonl,
               "--deadline", str(deadline), "--micro-batches", args.micro_batches, "--recompute", args.recompute]
        try:
            p = subprocess.run(cmd, timeout=remaining + 120, capture_output=True, text=True)
            for line in (p.stdout + p.stderr).splitlines():
                log("   | " + line)
            if p.returncode != 0:
                infos.append("%s worker exited %d." % (name, p.returncode))
        except subprocess.TimeoutExpired:
            infos.append("%s worker killed at its timeout." % name)
        seen = set()
        if os.path.exists(jsonl):
            for line in open(jsonl):
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if "info" in obj:
                    infos.append(obj["info"] + ".")
                elif "run" in obj:
                    runs.append(obj["run"])
                    seen.add(obj["run"]["id"])
                elif "kernels" in obj:
                    profiles.append(obj["kernels"])
        for rc in rcs:
            for mb in mbs:
                rid = "%s-mb%d-%s" % (name, mb, "recompute" if rc == "full" else "norecompute")
                if rid not in seen:
                    runs.append({"id": rid, "model": dict(MODELS[name], params=total_params(MODELS[name])),
                                 "micro_batch": mb, "recompute": rc, "status": "error",
                                 "note": "worker produced no result (crashed or was killed)"})
        write()
    mon.stop()
    write()
    if args.kernel_profile:
        with open(args.kernel_profile, "w") as f:
            json.dump({"schema": "mfusim-kernel-profile/1", "device_name": props.name, "torch": torch.__version__,
                       "date": datetime.date.today().isoformat(), "profiles": profiles}, f, indent=1)
        log("wrote %s (%d configurations)" % (args.kernel_profile, len(profiles)))
    log("%-32s %-7s %9s %7s %9s %9s" % ("run", "status", "step_s", "mfu", "alloc_GiB", "resv_GiB"))
    for r in runs:
        if r.get("status") == "ok":
            log("%-32s %-7s %9.4f %7.3f %9.2f %9.2f" % (r["id"], r["status"], r["step_time_s"], r["mfu"],
                                                        r["peak_allocated_gib"], r["peak_reserved_gib"]))
        else:
            log("%-32s %-7s %s" % (r["id"], r["status"], r.get("note", "")[:80]))


if __name__ == "__main__":
    main()
