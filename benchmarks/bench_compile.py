"""Benchmark: source-to-module compile time and eval forward latency of a lowered network.

    python benchmarks/bench_compile.py                       # examples/darts_v2_cifar.nas
    python benchmarks/bench_compile.py SRC --repeat 7 --threads 2

Compile time is parse + verify + elaborate + lower (`load_model`, `elaborate`, `build_module`),
each stage timed, median of `--repeat` runs; the first (cold: the std library is parsed, lark's
parser built) is reported apart from the warm median (the front end caches parsed libraries per
process). Forward latency is an eval-mode, `torch.no_grad` forward at batch 1 and 64 on `--threads`
threads, median over `--iters` after warm-up iterations.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing


def _compile_once(src: Path) -> tuple[dict[str, float], object]:
    from nasc.analysis.elaborate import elaborate
    from nasc.frontend import load_model
    from nasc.lower import build_module

    t0 = time.perf_counter()
    model = load_model(src)  # parse + imports + verify
    t1 = time.perf_counter()
    network = elaborate(model)
    t2 = time.perf_counter()
    net = build_module(network)
    t3 = time.perf_counter()
    return {"parse+verify": t1 - t0, "elaborate": t2 - t1, "lower": t3 - t2, "total": t3 - t0}, net


def bench_compile(src: Path, repeat: int) -> tuple[dict[str, float], dict[str, float], object]:
    """(cold timings, warm median timings, the module)."""
    cold, net = _compile_once(src)
    runs = [_compile_once(src)[0] for _ in range(repeat)]
    warm = {k: statistics.median(r[k] for r in runs) for k in cold}
    return cold, warm, net


def bench_forward(net: object, batch: int, iters: int, warmup: int = 3) -> float:
    """Median seconds of an eval forward at `batch`."""
    import torch

    net.eval()  # type: ignore[attr-defined]
    c, h, w = net.network.input_shape  # type: ignore[attr-defined]
    x = torch.randn(batch, c, h, w)
    times = []
    with torch.no_grad():
        for i in range(warmup + iters):
            t = time.perf_counter()
            net(x)  # type: ignore[operator]
            if i >= warmup:
                times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    """Run the benchmark and print a small table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", nargs="?", default=str(ROOT / "examples" / "darts_v2_cifar.nas"))
    ap.add_argument("--repeat", type=int, default=5, help="compile runs (median)")
    ap.add_argument("--iters", type=int, default=10, help="forward iterations per batch size (median)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,64")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    src = Path(args.src)
    cold, warm, net = bench_compile(src, args.repeat)
    params = sum(p.numel() for p in net.parameters())  # type: ignore[attr-defined]
    print(f"# {src.name}: {len(net.network.cells)} cells, {params:,} params, torch {torch.__version__}, "  # type: ignore[attr-defined]
          f"{args.threads} threads")
    print(f"{'compile stage':<16}{'cold ms':>10}{'warm ms (median of ' + str(args.repeat) + ')':>28}")
    for k in cold:
        print(f"{k:<16}{cold[k] * 1e3:>10.1f}{warm[k] * 1e3:>28.1f}")
    for b in (int(x) for x in args.batches.split(",")):
        t = bench_forward(net, b, args.iters)
        print(f"eval forward batch {b:<4} {t * 1e3:9.1f} ms  ({b / t:8.1f} images/s)")


if __name__ == "__main__":
    main()
