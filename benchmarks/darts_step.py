"""DARTS search-step benchmark: nasc's supernet + bilevel optimizer against pt.darts.

    python benchmarks/darts_step.py                         # batch 32 and 64, all kinds, both impls
    python benchmarks/darts_step.py --batch 32 --impl nasc --kind second --iters 5
    python benchmarks/darts_step.py --json results.json

The network is the standard DARTS CIFAR search supernet (examples/darts_space.nas: C=16, 8 cells,
4 nodes, 8 candidate ops, 32x32 inputs, 10 classes). Per configuration it reports milliseconds
per iteration of:
- `weights`: one weight step (forward, backward, gradient clipping at 5, SGD with momentum);
- `first`:  a first-order architecture step on a held-out batch (Adam on the alphas) + the
            weight step;
- `second`: the second-order (unrolled) architecture step + the weight step;
and the peak resident memory. Every configuration runs in a fresh subprocess (so `ru_maxrss` is
that configuration's peak) with `torch.set_num_threads(--threads)` (2 by default). The machine may
be shared: each row records the 1-minute load average before and after; rerun when it is high.
Timings are the median and the minimum over `--iters` iterations after one warm-up iteration.

`pt.darts` is `benchmarks/ptdarts_ref.py` (a faithful copy of khanrc/pt.darts' search network
and architect, NCHW, stock modules); its first order is DARTS' `loss_val.backward()` on the
alphas (which also computes the unused weight gradients, as the reference code does).
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


def _nasc_step(batch: int, kind: str, channels_last: bool | None) -> Any:
    import torch
    import torch.nn.functional as F

    from nasc.frontend import load_model
    from nasc.search.bilevel import Architect
    from nasc.search.darts_supernet import DartsSupernet

    model = DartsSupernet.build(load_model(ROOT / "examples" / "darts_space.nas"),
                                channels_last=channels_last)
    w_opt = torch.optim.SGD(model.network_weights(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(model.alphas(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    arch = Architect(model, a_opt, w_momentum=0.9, w_weight_decay=3e-4,
                     order="first" if kind == "first" else "second")
    x, y, xv, yv = _data(batch)
    weights = model.network_weights()

    def step() -> None:
        if kind != "weights":
            arch.step(x, y, xv, yv, w_opt, 0.025)
        w_opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        torch.nn.utils.clip_grad_norm_(weights, 5.0)
        w_opt.step()

    return step


def _ptdarts_step(batch: int, kind: str) -> Any:
    import torch

    sys.path.insert(0, str(HERE))
    import ptdarts_ref as R

    net = R.SearchCNNController(3, 16, 10, 8)
    w_opt = torch.optim.SGD(net.weights(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(net.alphas(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    architect = R.Architect(net, 0.9, 3e-4)
    x, y, xv, yv = _data(batch)

    def step() -> None:
        if kind == "first":
            a_opt.zero_grad()
            net.loss(xv, yv).backward()
            a_opt.step()
        elif kind == "second":
            a_opt.zero_grad()
            architect.unrolled_backward(x, y, xv, yv, 0.025, w_opt)
            a_opt.step()
        w_opt.zero_grad()
        net.loss(x, y).backward()
        torch.nn.utils.clip_grad_norm_(net.weights(), 5.0)
        w_opt.step()

    return step


def _data(batch: int) -> Any:
    import torch

    g = torch.Generator().manual_seed(0)
    return (torch.randn(batch, 3, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g),
            torch.randn(batch, 3, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g))


def worker(impl: str, batch: int, kind: str, iters: int, threads: int,
           channels_last: bool | None) -> dict[str, Any]:
    """Run one configuration in this process; returns its measurements."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    step = _nasc_step(batch, kind, channels_last) if impl == "nasc" else _ptdarts_step(batch, kind)
    load_before = os.getloadavg()[0]
    step()  # warm-up (oneDNN primitive creation, allocator growth)
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return {"impl": impl, "batch": batch, "kind": kind, "threads": threads,
            "ms_median": 1e3 * statistics.median(times), "ms_min": 1e3 * min(times),
            "ms_all": [round(1e3 * t, 1) for t in times],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "load_before": load_before, "load_after": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--kind", nargs="+", default=["weights", "first", "second"],
                    choices=["weights", "first", "second"])
    ap.add_argument("--impl", nargs="+", default=["nasc", "ptdarts"], choices=["nasc", "ptdarts"])
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layout", choices=["auto", "channels_last", "contiguous"], default="auto",
                    help="nasc supernet memory format (auto: channels-last on the CPU)")
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    cl = {"auto": None, "channels_last": True, "contiguous": False}[args.layout]
    if args.worker:
        print(json.dumps(worker(args.impl[0], args.batch[0], args.kind[0], args.iters,
                                args.threads, cl)))
        return 0
    rows = []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    print(f"{'impl':8} {'batch':>5} {'kind':8} {'median ms':>10} {'min ms':>9} {'peak RSS MB':>12} "
          f"{'load':>10}", flush=True)
    for batch in args.batch:
        for kind in args.kind:
            for impl in args.impl:
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--impl", impl,
                       "--batch", str(batch), "--kind", kind, "--iters", str(args.iters),
                       "--threads", str(args.threads), "--layout", args.layout]
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if proc.returncode != 0:
                    print(f"{impl} batch {batch} {kind}: failed\n{proc.stderr[-2000:]}", flush=True)
                    continue
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(f"{impl:8} {batch:5d} {kind:8} {row['ms_median']:10.0f} {row['ms_min']:9.0f} "
                      f"{row['peak_rss_mb']:12.0f} {row['load_before']:4.1f}->{row['load_after']:<4.1f}",
                      flush=True)
    by = {(r["impl"], r["batch"], r["kind"]): r for r in rows}
    for (impl, batch, kind), r in sorted(by.items()):
        base = by.get(("ptdarts", batch, kind))
        if impl == "nasc" and base is not None:
            print(f"batch {batch} {kind:8}: nasc/pt.darts time {r['ms_min'] / base['ms_min']:.2f} "
                  f"(min), memory {r['peak_rss_mb'] / base['peak_rss_mb']:.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
