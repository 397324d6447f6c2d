#!/usr/bin/env python3
"""GPU memory a training process cannot use for tensors: what the driver keeps, the CUDA context and
the libraries' handles, measured step by step in fresh processes.

Run on the GPU to be measured (one GPU, nothing else on it):

    python3 workloads/calibration/measure_memory_overhead.py --out memory_overhead.yaml

Each stage runs in its own Python process (a fresh CUDA context) and adds one thing to the previous
stage; after it the process reads cudaMemGetInfo (torch.cuda.mem_get_info: free and total) and the
caching allocator's reserved bytes. "Outside the allocator" is total - free - reserved: the memory the
process holds that PyTorch's allocator does not count (context, module images, library handles and
workspaces the libraries allocate themselves). Stages:

  context       torch.cuda.init() and a 1-element tensor (the CUDA context; lazy module loading,
                PyTorch's default CUDA_MODULE_LOADING=LAZY)
  cublas        + a bf16 GEMM 8192^3 forward (cuBLAS/cuBLASLt handle and workspace)
  fp8           + an fp8 (e4m3) GEMM through torch._scaled_mm (cuBLASLt fp8)
  sdpa          + causal flash attention forward and backward (F.scaled_dot_product_attention, flash)
  cudnn_sdpa    + the same with the cuDNN attention backend (when this PyTorch has it)
  nccl          + a one-rank NCCL process group, all_reduce / all_gather / reduce_scatter of 64 MiB
                (NCCL's own device state; with one rank NCCL opens no peer connections, so its per-peer
                buffers, 9.2 MiB per connection and channel with all three protocols, are not in it)
  eager_modules the cublas stage with CUDA_MODULE_LOADING=EAGER (every kernel image loaded up front)

The device-visible total (cudaMemGetInfo's total) is also what torch.cuda.get_device_properties
reports; nvidia-smi's memory.total / memory.reserved / memory.used are recorded before any stage.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys

MIB = float(1 << 20)
GIB = float(1 << 30)

STAGES = ["context", "cublas", "fp8", "sdpa", "cudnn_sdpa", "nccl"]


def worker(stage_list):
    import torch
    import torch.nn.functional as F

    out = {}
    torch.cuda.init()
    x = torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    done = []
    for stage in stage_list:
        try:
            if stage == "cublas":
                a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
                b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
                c = a @ b
                torch.cuda.synchronize()
                del a, b, c
            elif stage == "fp8":
                a = torch.randn(4096, 4096, device="cuda").to(torch.float8_e4m3fn)
                b = torch.randn(4096, 4096, device="cuda").to(torch.float8_e4m3fn).t()
                one = torch.ones((), device="cuda")
                c = torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
                torch.cuda.synchronize()
                del a, b, c
            elif stage in ("sdpa", "cudnn_sdpa"):
                from torch.nn.attention import SDPBackend, sdpa_kernel

                backend = SDPBackend.FLASH_ATTENTION if stage == "sdpa" else SDPBackend.CUDNN_ATTENTION
                q, k, v = (torch.randn(2, 32, 4096, 128, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
                with sdpa_kernel([backend]):
                    o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                    o.sum().backward()
                torch.cuda.synchronize()
                del q, k, v, o
            elif stage == "nccl":
                import torch.distributed as dist

                os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
                os.environ.setdefault("MASTER_PORT", "29511")
                dist.init_process_group("nccl", rank=0, world_size=1, device_id=torch.device("cuda", 0))
                t = torch.ones(32 << 20, device="cuda", dtype=torch.bfloat16)
                dist.all_reduce(t)
                g = torch.empty_like(t)
                dist.all_gather_into_tensor(g, t)
                dist.reduce_scatter_tensor(g, t)
                torch.cuda.synchronize()
                del t, g
            done.append(stage)
        except Exception as e:  # a stage this PyTorch cannot run is recorded, not fatal
            out.setdefault("skipped", {})[stage] = f"{type(e).__name__}: {e}"[:300]
    torch.cuda.empty_cache()
    free, total = torch.cuda.mem_get_info()
    reserved = torch.cuda.memory_reserved()
    out.update(
        stages=done,
        total_bytes=total,
        free_bytes=free,
        allocator_reserved_bytes=reserved,
        used_bytes=total - free,
        outside_allocator_bytes=total - free - reserved,
        module_loading=os.environ.get("CUDA_MODULE_LOADING", "(PyTorch default: LAZY)"),
    )
    if "nccl" in done:
        import torch.distributed as dist

        out["nccl_version"] = ".".join(map(str, torch.cuda.nccl.version()))
        dist.destroy_process_group()
    print("RESULT " + json.dumps(out), flush=True)


def smi():
    q = "name,driver_version,memory.total,memory.reserved,memory.used,memory.free"
    try:
        line = subprocess.run(["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=60).stdout.strip().splitlines()[0]
        vals = [v.strip() for v in line.split(",")]
        return dict(zip(["name", "driver", "total_mib", "reserved_mib", "used_mib", "free_mib"], vals))
    except Exception as e:
        return {"error": str(e)}


def run_stage(stages, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    p = subprocess.run([sys.executable, __file__, "--worker", ",".join(stages)], capture_output=True, text=True,
                       env=env, timeout=300)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (p.stderr or p.stdout)[-2000:]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="memory_overhead.yaml")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    if a.worker is not None:
        worker([s for s in a.worker.split(",") if s and s != "context"])
        return
    import torch

    props = torch.cuda.get_device_properties(0)
    doc = {
        "schema": "mfusim-memory-overhead/1",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "gpu": props.name,
        "device_total_memory_bytes": props.total_memory,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "nvidia_smi_idle": smi(),
        "runs": [],
    }
    for rep in range(a.repeats):
        for i in range(len(STAGES)):
            r = run_stage(STAGES[: i + 1])
            r["name"] = STAGES[i]
            r["repeat"] = rep
            doc["runs"].append(r)
            print(json.dumps(r), flush=True)
        r = run_stage(["context", "cublas"], {"CUDA_MODULE_LOADING": "EAGER"})
        r["name"] = "eager_modules"
        r["repeat"] = rep
        doc["runs"].append(r)
        print(json.dumps(r), flush=True)
    with open(a.out, "w") as f:
        f.write("# GPU memory outside the tensors (measure_memory_overhead.py); bytes unless named.\n")
        json.dump(doc, f, indent=1)  # JSON is YAML
        f.write("\n")


if __name__ == "__main__":
    main()
