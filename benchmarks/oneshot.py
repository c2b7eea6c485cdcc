"""One-shot search iterations side by side: DARTS first and second order, PC-DARTS, GDAS.

    python benchmarks/oneshot.py                                  # batch 32 and 64, every method
    python benchmarks/oneshot.py --batch 64 --method gdas pc-darts --iters 5
    python benchmarks/oneshot.py --k 2 4 8                        # PC-DARTS at several K
    python benchmarks/oneshot.py --device cuda --json oneshot.json

The network is the standard DARTS CIFAR search supernet (examples/darts_space.nas: C=16, 8 cells,
4 nodes, 8 candidate ops, 32x32 inputs, 10 classes), built by each method's own supernet class.
One iteration is what the method's search does per training batch:
- `darts-1st` / `darts-2nd`: the DARTS architecture step (first / second order) on a held-out
  batch, then the weight step (forward, backward, gradient clipping at 5, SGD with momentum);
- `pc-darts`: the same with partial channels (K, default 4) and edge normalisation, first order
  (the PC-DARTS code's default);
- `gdas`: the weight step on one sampled path, then the first-order architecture step on another
  sampled path (GDAS' order), tau = 10.

Each configuration runs in a fresh subprocess with `torch.set_num_threads(--threads)` (2 by
default) and reports seconds per iteration (median and minimum over `--iters` iterations after
one warm-up iteration) and the peak memory: the process's peak resident set on the CPU
(`ru_maxrss`, which includes the ~0.3 GB of Python and torch), `torch.cuda.max_memory_allocated`
on a GPU. The machine may be shared: each row records the 1-minute load average before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
METHODS = ("darts-1st", "darts-2nd", "pc-darts", "gdas")


def _step(method: str, batch: int, k: int, device: str) -> Any:
    import torch
    import torch.nn.functional as F

    from nasc.frontend import load_model
    from nasc.search.bilevel import Architect
    from nasc.search.darts_supernet import DartsSupernet
    from nasc.search.gdas_search import GdasSupernet
    from nasc.search.pcdarts_search import PcDartsSupernet

    space = load_model(ROOT / "examples" / "darts_space.nas")
    if method == "pc-darts":
        model: DartsSupernet = PcDartsSupernet.build(space, k=k, device=device)
    elif method == "gdas":
        model = GdasSupernet.build(space, device=device, tau=10.0)
    else:
        model = DartsSupernet.build(space, device=device)
    w_opt = torch.optim.SGD(model.network_weights(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(model.alphas(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    arch = Architect(model, a_opt, w_momentum=0.9, w_weight_decay=3e-4,
                     order="second" if method == "darts-2nd" else "first")
    g = torch.Generator().manual_seed(0)
    x, y, xv, yv = (torch.randn(batch, 3, 32, 32, generator=g).to(device),
                    torch.randint(0, 10, (batch,), generator=g).to(device),
                    torch.randn(batch, 3, 32, 32, generator=g).to(device),
                    torch.randint(0, 10, (batch,), generator=g).to(device))
    weights = model.network_weights()
    model.train()

    def weight_step() -> None:
        w_opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        torch.nn.utils.clip_grad_norm_(weights, 5.0)
        w_opt.step()

    def step() -> None:
        if method == "gdas":  # GDAS: weights first, then the architecture
            weight_step()
            arch.step(x, y, xv, yv, w_opt, 0.025)
        else:
            arch.step(x, y, xv, yv, w_opt, 0.025)
            weight_step()

    return step


def worker(method: str, batch: int, k: int, iters: int, threads: int, device: str) -> dict[str, Any]:
    """Run one configuration in this process; returns its measurements."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cuda = device.startswith("cuda")
    step = _step(method, batch, k, device)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    load_before = os.getloadavg()[0]
    step()  # warm-up (oneDNN / cuDNN primitive creation, allocator growth)
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    row = {"method": method, "batch": batch, "k": k if method == "pc-darts" else None,
           "device": device, "threads": threads, "s_median": statistics.median(times),
           "s_min": min(times), "s_all": [round(t, 3) for t in times],
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "load_before": load_before, "load_after": os.getloadavg()[0]}
    if cuda:
        row["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def _label(row: dict[str, Any]) -> str:
    return f"{row['method']} K={row['k']}" if row["k"] is not None else row["method"]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--method", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--k", type=int, nargs="+", default=[4], help="PC-DARTS partial channels")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.method[0], args.batch[0], args.k[0], args.iters,
                                args.threads, args.device)))
        return 0
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    mem = "peak CUDA MB" if args.device.startswith("cuda") else "peak RSS MB"
    print(f"{'method':14} {'batch':>5} {'median s':>9} {'min s':>7} {mem:>12} {'load':>10}", flush=True)
    rows = []
    for batch in args.batch:
        for method in args.method:
            for k in (args.k if method == "pc-darts" else [args.k[0]]):
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--method", method,
                       "--batch", str(batch), "--k", str(k), "--iters", str(args.iters),
                       "--threads", str(args.threads), "--device", args.device]
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if proc.returncode != 0:
                    print(f"{method} batch {batch}: failed\n{proc.stderr[-2000:]}", flush=True)
                    continue
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                rows.append(row)
                peak = row.get("peak_cuda_mb", row["peak_rss_mb"])
                print(f"{_label(row):14} {batch:5d} {row['s_median']:9.2f} {row['s_min']:7.2f} "
                      f"{peak:12.0f} {row['load_before']:4.1f}->{row['load_after']:<4.1f}", flush=True)
    for batch in args.batch:
        base = next((r for r in rows if r["batch"] == batch and r["method"] == "darts-1st"), None)
        if base is None:
            continue
        for r in rows:
            if r["batch"] == batch and r is not base:
                peak, ref = (r.get("peak_cuda_mb", r["peak_rss_mb"]),
                             base.get("peak_cuda_mb", base["peak_rss_mb"]))
                print(f"batch {batch} {_label(r):14}: time / DARTS 1st order {r['s_min'] / base['s_min']:.2f} "
                      f"(min), memory {peak / ref:.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
