"""Benchmark: networks per second of the analytic macro sweep (`nasc sweep`, no torch).

    python benchmarks/bench_sweep.py                  # examples/darts_v2_cifar.nas, three grids
    python benchmarks/bench_sweep.py SRC --repeat 5

Each grid is swept with `nasc.search.sweep.run_sweep` on the loaded model (parsing is not
counted): every point goes through the `nodes` and `scale-up` passes, verification, shape
inference and the cost model. The figure is points per second (valid networks and skipped
combinations alike), the median of `--repeat` runs after one warm-up run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

#: name -> grid (the axes of `run_sweep`)
GRIDS: dict[str, dict[str, tuple[int, ...]]] = {
    "small: cells 3:8, C 8,16, nodes 2:4": {"cells": tuple(range(3, 9)), "channels": (8, 16),
                                             "nodes": (2, 3, 4)},
    "paper: cells 8:20, C 16,32,48": {"cells": tuple(range(8, 21)), "channels": (16, 32, 48)},
    "full: cells 3:20, reductions 1:3, nodes 2:4, C 16,36": {
        "cells": tuple(range(3, 21)), "reductions": (1, 2, 3), "nodes": (2, 3, 4), "channels": (16, 36)},
}


def main() -> None:
    """Sweep each grid and print points per second."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", nargs="?", default=str(ROOT / "examples" / "darts_v2_cifar.nas"))
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per grid (median)")
    args = ap.parse_args()

    from nasc.frontend import load_model
    from nasc.search.sweep import run_sweep

    model = load_model(args.src)
    print(f"# {Path(args.src).name}: analytic sweep, median of {args.repeat} runs")
    print(f"{'grid':<56}{'points':>8}{'valid':>7}{'ms/point':>10}{'points/s':>10}")
    for name, axes in GRIDS.items():
        result = run_sweep(model, **axes)  # warm-up
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            run_sweep(model, **axes)
            times.append(time.perf_counter() - t)
        secs = statistics.median(times)
        n = len(result.rows)
        valid = sum(1 for r in result.rows if r["status"] == "ok")
        print(f"{name:<56}{n:>8}{valid:>7}{secs / n * 1e3:>10.2f}{n / secs:>10.0f}")
    print(f"torch imported: {'torch' in sys.modules}")


if __name__ == "__main__":
    main()
