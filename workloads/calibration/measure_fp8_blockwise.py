#!/usr/bin/env python3
"""FP8 GEMMs with DeepSeek-V3's fine-grained scaling against per-tensor scaling, on one GPU.

DeepSeek-V3 (report section 3.3.2) quantizes activations in 1x128 tiles and weights in 128x128 blocks,
each with its own fp32 scale, where our FP8 table (measure_kernels.py) times torch._scaled_mm with one
scale per tensor. This script times both on the same shapes (the DeepSeek-V3 layer GEMMs of a 4,096-token
micro-batch, expert GEMMs at ~9,000 tokens per local expert) so the ratio can be looked up rather than
assumed. torch._scaled_mm picks blockwise scaling from the scales' shapes: scale_a [M, K/128] and
scale_b [K/128, N/128] (PyTorch >= 2.9 with a cuBLAS that has it on SM90); where the build lacks it, the
script says so and records nothing for that row.

Writes $OUT/fp8_blockwise.yaml (and prints it): per shape, milliseconds and TFLOP/s of each variant.
"""
import os
import sys
import time

import torch

SHAPES = [  # name, M, N, K (C[M,N] = A[M,K] B[K,N])
    ("q_down", 4096, 1536, 7168),
    ("kv_down", 4096, 640, 7168),
    ("q_up", 4096, 24576, 1536),
    ("kv_up", 4096, 32768, 512),
    ("proj", 4096, 7168, 16384),
    ("expert_fc1", 9088, 4096, 7168),
    ("expert_fc2", 9088, 7168, 2048),
    ("dense_fc1", 4096, 36864, 7168),
    ("dense_fc2", 4096, 7168, 18432),
    ("square_8k", 8192, 8192, 8192),
]


def timed(fn, reps=30, warm=5):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]  # median, ms


def main():
    out_dir = os.environ.get("OUT", ".")
    dev = torch.cuda.get_device_name(0)
    lines = [f"# {os.path.basename(__file__)}, {time.strftime('%Y-%m-%d')}",
             f"device: {dev!r}", f"torch: {torch.__version__!r}", f"cuda: {torch.version.cuda!r}", "shapes:"]
    f8 = torch.float8_e4m3fn
    for name, m, n, k in SHAPES:
        a = torch.randn(m, k, device="cuda").to(f8)
        b = torch.randn(n, k, device="cuda").to(f8).t()  # column-major, as _scaled_mm requires
        one = torch.tensor(1.0, device="cuda")
        row = {"M": m, "N": n, "K": k}
        flops = 2.0 * m * n * k
        try:
            ms = timed(lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16))
            row["per_tensor_ms"] = ms
        except Exception as e:  # noqa: BLE001
            row["per_tensor_error"] = repr(e)[:160]
        # DeepSeek-V3's recipe: activations 1x128 tiles, weights 128x128 blocks. ATen's checks
        # (ScaledBlas.cpp): scale_a (M, K/128) outer-dim-major (stride (1, M)); scale_b (K/128, N/128)
        # whose transpose is row-major (N/128, K/128).
        try:
            sa = (torch.rand(k // 128, m, device="cuda") + 0.5).t()
            sb = (torch.rand((n + 127) // 128, k // 128, device="cuda") + 0.5).t()
            ms = timed(lambda: torch._scaled_mm(a, b, scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16))
            row["blockwise_ms"] = ms
        except Exception as e:  # noqa: BLE001
            row["blockwise_error"] = repr(e)[:300]
        # 1x128 on both operands (DeepSeek's weight-gradient GEMM scales both inputs per 1x128 tile).
        try:
            sa = (torch.rand(k // 128, m, device="cuda") + 0.5).t()
            sb = (torch.rand(k // 128, n, device="cuda") + 0.5)
            ms = timed(lambda: torch._scaled_mm(a, b, scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16))
            row["tile1x128_ms"] = ms
        except Exception as e:  # noqa: BLE001
            row["tile1x128_error"] = repr(e)[:300]
        # Per-tensor with fast accumulation (Transformer Engine's forward GEMMs).
        try:
            ms = timed(lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16,
                                                use_fast_accum=True))
            row["per_tensor_fastacc_ms"] = ms
        except Exception as e:  # noqa: BLE001
            row["per_tensor_fastacc_error"] = repr(e)[:160]
        try:
            sa = torch.rand(m, 1, device="cuda") + 0.5
            sb = torch.rand(1, n, device="cuda") + 0.5
            ms = timed(lambda: torch._scaled_mm(a, b, scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16))
            row["rowwise_ms"] = ms
        except Exception as e:  # noqa: BLE001
            row["rowwise_error"] = repr(e)[:160]
        ab, bb = torch.randn(m, k, device="cuda", dtype=torch.bfloat16), torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
        row["bf16_ms"] = timed(lambda: torch.mm(ab, bb))
        parts = [f"M: {m}", f"N: {n}", f"K: {k}"]
        for key in ("per_tensor", "per_tensor_fastacc", "blockwise", "tile1x128", "rowwise", "bf16"):
            if f"{key}_ms" in row:
                parts.append(f"{key}_ms: {row[key + '_ms']:.4f}")
                parts.append(f"{key}_tflops: {flops / row[key + '_ms'] / 1e9:.1f}")
            elif f"{key}_error" in row:
                parts.append(f"{key}_error: {row[key + '_error']!r}")
        lines.append(f"  {name}: {{{', '.join(parts)}}}")
        del a, b, ab, bb
        torch.cuda.empty_cache()
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(out_dir, "fp8_blockwise.yaml"), "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    sys.exit(main())
