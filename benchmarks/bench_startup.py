"""Start-up time of `nasc check`: what a user waits for before the first line of output.

    python benchmarks/bench_startup.py [--runs 10] [--top 15] [--root CHECKOUT] [--file FILE] [--no-bytecode]

It runs `python -m nasc check FILE` (default `examples/darts_v2_cifar.nas`) `--runs` times in fresh
processes and prints the min and median wall time, then runs it once under `python -X importtime`
and prints the modules with the largest cumulative import time (and whether torch was imported).

Bytecode is cached as for an installed package, but under a temporary `PYTHONPYCACHEPREFIX` (the
checkout is not written to; one untimed run fills the cache); `--no-bytecode` compiles every
module in every run instead (`PYTHONDONTWRITEBYTECODE=1`, no cache).

`--root` measures another checkout (e.g. `git worktree add /tmp/nasc-before HEAD` to compare with
the last commit): it goes first on PYTHONPATH and is the working directory, so its `nasc` package is
the one imported (the path is printed to show it).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# what `python -m nasc ARGS` runs, plus the location of the imported package on stderr's last line
_RUN = ("import sys, nasc; sys.argv = ['nasc'] + sys.argv[1:]\n"
        "from nasc.cli.app import main\n"
        "try:\n    main()\nfinally:\n"
        "    print('nasc from', nasc.__file__, '| torch imported:', 'torch' in sys.modules, file=sys.stderr)\n")


def _env(root: Path, pycache: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def _cpu() -> float:
    """CPU seconds (user + system) used by finished child processes so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def wall_times(root: Path, file: str, runs: int,
               pycache: str | None) -> tuple[list[float], list[float], str]:
    """Wall and CPU seconds of `runs` fresh `nasc check file` processes (after one untimed run that
    fills the bytecode cache), and the last one's trailer line. CPU time is the steadier figure on
    a busy machine."""
    times, cpus, trailer = [], [], ""
    for i in range(runs + 1):
        t, c = time.perf_counter(), _cpu()
        r = subprocess.run([sys.executable, "-c", _RUN, "check", file], cwd=root, env=_env(root, pycache),
                           capture_output=True, text=True)
        if i:
            times.append(time.perf_counter() - t)
            cpus.append(_cpu() - c)
        if r.returncode != 0:
            raise SystemExit(f"nasc check failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        trailer = r.stderr.strip().splitlines()[-1]
    return times, cpus, trailer


def import_times(root: Path, file: str, pycache: str | None) -> list[tuple[int, int, str]]:
    """(cumulative us, self us, module) of every import of one `nasc check` run."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", _RUN, "check", file], cwd=root,
                       env=_env(root, pycache), capture_output=True, text=True)
    rows = []
    for line in r.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cum_us, name = (part.strip() for part in line[len("import time:"):].split("|"))
        rows.append((int(cum_us), int(self_us), name))
    return rows


def main() -> None:
    """Measure and print (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="fresh processes to time")
    ap.add_argument("--top", type=int, default=15, help="modules to list by cumulative import time")
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure")
    ap.add_argument("--file", default="examples/darts_v2_cifar.nas", help="the file to check")
    ap.add_argument("--no-bytecode", action="store_true", help="compile every module in every run")
    args = ap.parse_args()
    root = args.root.resolve()

    with tempfile.TemporaryDirectory(prefix="nasc-pycache-") as cache:
        pycache = None if args.no_bytecode else cache
        times, cpus, trailer = wall_times(root, args.file, args.runs, pycache)
        rows = import_times(root, args.file, pycache)
    mode = "no bytecode cache" if args.no_bytecode else "bytecode cached"
    print(f"nasc check {args.file} in {root} ({mode})")
    print(f"  {trailer}")
    print(f"  wall time over {args.runs} runs: min {1e3 * min(times):.0f} ms, "
          f"median {1e3 * statistics.median(times):.0f} ms")
    print(f"  CPU time (user + sys) over {args.runs} runs: min {1e3 * min(cpus):.0f} ms, "
          f"median {1e3 * statistics.median(cpus):.0f} ms")

    total = sum(s for _, s, _ in rows)
    print(f"  imports: {len(rows)} modules, {total / 1e3:.0f} ms in all (one run, -X importtime)")
    print(f"  top {args.top} by cumulative import time:")
    for cum, _, name in sorted(rows, reverse=True)[: args.top]:
        print(f"    {cum / 1e3:8.1f} ms  {name.strip()}")


if __name__ == "__main__":
    main()
