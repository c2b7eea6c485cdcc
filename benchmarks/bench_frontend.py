"""Front-end speed: parse, verify and shape-inference time per example and for generated models.

    python benchmarks/bench_frontend.py [--repeat 5]

For each example (and for DARTS_V2 networks generated with 10, 100 and 1000 cells: `cells = N`,
reductions at N//3 and 2N//3) it prints the best-of-`repeat` wall time of parsing (text -> IR,
imports resolved from the warm library cache), `verify` and `elaborate` (shape inference), and the
per-cell time of `elaborate`, whose ratio between sizes shows that it grows linearly.
Parsing does not depend on the number of cells (cells are templates).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def generated(n: int) -> str:
    """DARTS_V2 with `n` cells, reductions at n//3 and 2n//3 (aux after the second reduction)."""
    text = (ROOT / "examples" / "darts_v2_cifar.nas").read_text()
    return text.replace("param layers = 20", f"param layers = {n}")


def main() -> None:
    """Run the benchmark and print one table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from nasc.frontend import parse_source
    from nasc.ir.verify import verify
    from nasc.ops.registry import primitive_table

    try:
        from nasc.analysis.elaborate import elaborate
    except ImportError:
        elaborate = None  # type: ignore[assignment]

    cases: list[tuple[str, str, str]] = []
    for p in sorted((ROOT / "examples").glob("*.nas")) + sorted((ROOT / "examples").glob("*.yaml")):
        cases.append((p.name, p.read_text(), str(p)))
    for n in (10, 100, 1000):
        cases.append((f"darts_v2 x{n} cells", generated(n), str(ROOT / "examples" / f"gen{n}.nas")))

    parse_source(cases[0][1], cases[0][2])  # warm up: parser tables, std library cache
    print(f"{'model':28} {'cells':>6} {'parse ms':>9} {'verify ms':>10} {'shapes ms':>10} {'ms/cell':>8}")
    per_cell: dict[int, float] = {}
    for name, text, path in cases:
        t_parse, model = _best(lambda: parse_source(text, path), args.repeat)
        t_verify, errs = _best(lambda: verify(model, primitive_table()), args.repeat)
        assert not errs, errs
        t_shapes, cells = float("nan"), 0
        if elaborate is not None:
            t_shapes, net = _best(lambda: elaborate(model), max(1, args.repeat if len(text) < 10**6 else 1))
            cells = len(net.cells)
        ms_cell = 1000 * t_shapes / cells if cells else float("nan")
        if name.startswith("darts_v2 x"):
            per_cell[cells] = ms_cell
        print(f"{name:28} {cells:>6} {1000 * t_parse:>9.2f} {1000 * t_verify:>10.2f} "
              f"{1000 * t_shapes:>10.2f} {ms_cell:>8.3f}")
    if len(per_cell) >= 2:
        sizes = sorted(per_cell)
        base = per_cell[sizes[0]]
        ratios = ", ".join(f"x{n}: {per_cell[n] / base:.2f}" for n in sizes)
        print(f"shape inference ms/cell relative to {sizes[0]} cells: {ratios} (at most 1: no worse than linear)")
        totals = {n: per_cell[n] * n for n in sizes}  # ms
        marginal = [f"{a}->{b}: {(totals[b] - totals[a]) / (b - a):.3f}" for a, b in zip(sizes, sizes[1:])]
        print("marginal ms per added cell " + ", ".join(marginal) + " (equal figures: linear growth)")

if __name__ == "__main__":
    main()
