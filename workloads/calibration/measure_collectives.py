#!/usr/bin/env python3
"""nccl-tests-style collective curves through PyTorch's NCCL, written in the collective-points/1 schema.

Run with torchrun on one host (every visible GPU joins):
  torchrun --nproc_per_node=N measure_collectives.py --out collectives.yaml [--max-bytes 4GiB] [--budget-s 200]

Ops: allreduce, allgather, reducescatter, alltoall (dist.all_to_all_single), sendrecv (rank 0 -> 1, and
back: nccl-tests' sendrecv ring with N = 2). Sizes 8 B .. --max-bytes, x4 steps; the size is nccl-tests'
buffer size (all-reduce: the buffer; all-gather / reduce-scatter: the full gathered buffer; all-to-all:
each rank's send buffer). Timing as nccl-tests does it: `iters` back-to-back ops between two CUDA
events on rank 0 after warm-up, all ranks in step (a barrier before each size); time = elapsed / iters.
busbw factors (nccl-tests PERFORMANCE.md): all-reduce 2(n-1)/n, all-gather, reduce-scatter and
all-to-all (n-1)/n, sendrecv 1; algbw = size / time. bf16 buffers (fp32 for sizes < 4 B of bf16).
NCCL chooses algorithm and protocol itself (NCCL_ALGO/NCCL_PROTO unset; NVLS is disabled on the lent
machines: NCCL_NVLS_ENABLE=0). Nothing is changed on the GPUs.
"""
import argparse
import json
import os
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-bytes", type=int, default=4 << 30)
    ap.add_argument("--budget-s", type=float, default=200.0)
    ap.add_argument("--ops", default="allreduce,allgather,reducescatter,alltoall,sendrecv")
    args = ap.parse_args()

    import torch
    import torch.distributed as dist

    dist.init_process_group("nccl")
    rank, n = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    dev = torch.device("cuda")
    t0 = time.time()
    sizes = []
    s = 8
    while s <= args.max_bytes:
        sizes.append(s)
        s *= 4
    factor = {"allreduce": 2.0 * (n - 1) / n, "allgather": (n - 1) / n, "reducescatter": (n - 1) / n,
              "alltoall": (n - 1) / n, "sendrecv": 1.0}
    pool = torch.empty(2 * args.max_bytes + (1 << 20), dtype=torch.uint8, device=dev)
    results = []
    for op in args.ops.split(","):
        if op == "sendrecv" and n < 2:
            continue
        times = []
        done_sizes = []
        for size in sizes:
            if time.time() - t0 > args.budget_s:
                break
            elems = size // 2
            if elems < n:
                continue
            elems -= elems % n
            nbytes = elems * 2
            buf = pool[:nbytes].view(torch.bfloat16)
            out = pool[nbytes:2 * nbytes].view(torch.bfloat16)

            def once():
                if op == "allreduce":
                    dist.all_reduce(buf)
                elif op == "allgather":
                    dist.all_gather_into_tensor(out, buf[: elems // n])
                elif op == "reducescatter":
                    dist.reduce_scatter_tensor(out[: elems // n], buf)
                elif op == "alltoall":
                    dist.all_to_all_single(out, buf)
                else:  # sendrecv between ranks 0 and 1 (others idle), both directions at once
                    if rank < 2:
                        peer = 1 - rank
                        reqs = dist.batch_isend_irecv([dist.P2POp(dist.isend, buf, peer), dist.P2POp(dist.irecv, out, peer)])
                        for r in reqs:
                            r.wait()

            for _ in range(3):
                once()
            torch.cuda.synchronize()
            dist.barrier()
            # Probe one op for the repetition count (about 50 ms per size, 5..200 iterations).
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            once()
            b.record()
            torch.cuda.synchronize()
            probe_ms = max(a.elapsed_time(b), 1e-3)
            it = torch.tensor([max(5, min(200, int(50.0 / probe_ms)))], device=dev)
            dist.broadcast(it, 0)
            iters = int(it.item())
            dist.barrier()
            a.record()
            for _ in range(iters):
                once()
            b.record()
            torch.cuda.synchronize()
            us = a.elapsed_time(b) * 1e3 / iters
            t = torch.tensor([us], device=dev)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)  # the slowest rank, as nccl-tests reports
            times.append(round(float(t.item()), 3))
            done_sizes.append(nbytes)
            if rank == 0:
                print("%-13s %12d B %10.2f us  busbw %7.2f GB/s" % (op, nbytes, times[-1], nbytes / times[-1] / 1e3 * factor[op]),
                      flush=True)
        results.append((op, done_sizes, times))

    if rank == 0:
        import subprocess
        name = torch.cuda.get_device_name(0)
        import re
        topo = subprocess.run(["nvidia-smi", "topo", "-m"], capture_output=True, text=True).stdout
        topo = re.sub(r"\x1b\[[0-9;]*m", "", topo).replace("\t", "  ")  # no terminal escapes or tabs in YAML
        nccl = ".".join(str(x) for x in torch.cuda.nccl.version())
        lines = ["# Measured by workloads/calibration/measure_collectives.py (torchrun, PyTorch NCCL %s, torch %s), %s."
                 % (nccl, torch.__version__, time.strftime("%Y-%m-%d")),
                 "# time_us = slowest rank's mean over back-to-back ops; busbw = size / time x nccl-tests factor.",
                 "# nvidia-smi topo -m:"] + ["#   " + l for l in topo.strip().splitlines()] + [
                 "schema: collective-points/1", "points:"]
        for op, sz, ts in results:
            bus = [float("%.4g" % (s_ / t_ / 1e3 * factor[op])) for s_, t_ in zip(sz, ts)]  # 4 significant digits, never 0
            lines.append("  - {system: %s, gpus: %d, nodes: 1, op: %s, algo: default, sizes_bytes: %s, time_us: %s, busbw_GBps: %s, source: %s}"
                         % (json.dumps("%dx %s, NVLS disabled, PyTorch NCCL %s" % (n, name, nccl)), n, op, json.dumps(sz),
                            json.dumps(ts), json.dumps(bus), json.dumps("mfusim measure_collectives.py, " + time.strftime("%Y-%m-%d"))))
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
        print("wrote", args.out, "in %.0f s" % (time.time() - t0))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
