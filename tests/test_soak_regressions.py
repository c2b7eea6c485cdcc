"""Regression cases from the soak fuzz (`benchmarks/soak_fuzz.py`): each class of input it found
to misbehave, rebuilt here from a few lines of code (the saved cases are megabytes), run through
`check`, `format_source` and `stats` in a subprocess that may raise only `NascError`s, within a
CPU-time budget (`RLIMIT_CPU`: what this process computes, unaffected by a busy machine) and an
address-space limit. A case over the budget dies by SIGXCPU: a hang, as the soak counts them.

The soak (32 minutes, 994 cases) found no tracebacks and no memory blow-up; its 33 "hangs" (over
30 s of wall-clock time for the three operations, on a machine running ~10 processes on 2 cores)
are these classes of huge input: tens of thousands of ops, choices or params, expressions nested
a hundred thousand deep, thousands of cell copies, YAML aliases expanded a hundred thousand times
and twenty thousand anchors. Measured in CPU time each finishes within the budget, so they are
slow on a busy machine rather than hung; these tests keep it so.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESNET = (ROOT / "examples" / "resnet20.nas").read_text()
RESNET_YAML = (ROOT / "examples" / "resnet20.yaml").read_text()
CPU_SECONDS = 30
MEMORY_MB = 3072

RUNNER = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_CPU, (int(sys.argv[2]), int(sys.argv[2]) + 5))
    limit = int(sys.argv[3]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from nasc import api
    from nasc.errors import NascError
    from nasc.frontend import read_text
    path = sys.argv[1]
    out = {}
    for op in ("check", "format", "stats"):
        try:
            if op == "check":
                api.check(path)
            elif op == "format":
                api.format_source(read_text(path), path)
            else:
                api.stats(path)
            out[op] = "ok"
        except NascError as exc:
            out[op] = "NascError"
    print(json.dumps(out))
""")

def _deep_nesting() -> str:
    depth = 100_000
    return RESNET.replace("param C = 16", "param C = " + "(" * depth + "16" + ")" * depth, 1)


def _many(kind: str, n: int) -> str:
    line = {"ops": "op o{k} = relu\n", "choices": "choice c{k} = [relu, identity]\n",
            "params": "param p{k} = {k}\n"}[kind]
    return RESNET + "\n" + "".join(line.format(k=k) for k in range(n))


def _cell_copies(n: int) -> str:
    start = RESNET.index("\ncell ") + 1
    end = RESNET.index("\n}\n", start) + 3
    return RESNET[:end] + RESNET[start:end] * n + RESNET[end:]


def _wide_aliases() -> str:
    return ("x: &x [" + ",".join(["1"] * 1000) + "]\n" + "y: [" + ",".join(["*x"] * 100_000) + "]\n"
            + RESNET_YAML)


def _many_anchors() -> str:
    return "".join(f"k{k}: &a{k} {k}\n" for k in range(20_000)) + RESNET_YAML


CASES = {
    "ops_50000": (".nas", lambda: _many("ops", 50_000)),
    "choices_50000": (".nas", lambda: _many("choices", 50_000)),
    "params_50000": (".nas", lambda: _many("params", 50_000)),
    "nesting_100000": (".nas", _deep_nesting),
    "cells_2000": (".nas", lambda: _cell_copies(2000)),
    "yaml_wide_aliases": (".yaml", _wide_aliases),
    "yaml_20000_anchors": (".yaml", _many_anchors),
}


def run_case(tmp_path: Path, suffix: str, text: str) -> dict[str, str]:
    """The outcome of each operation; fails on a traceback, a hang or a memory blow-up."""
    path = tmp_path / f"case{suffix}"
    path.write_text(text, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(path), str(CPU_SECONDS), str(MEMORY_MB)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"exit {proc.returncode} (-24: over {CPU_SECONDS} CPU s): {proc.stderr[-3000:]}"
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_soak_case_gives_only_nasc_errors_within_its_budget(name: str, tmp_path: Path) -> None:
    suffix, make = CASES[name]
    outcome = run_case(tmp_path, suffix, make())
    assert set(outcome.values()) <= {"ok", "NascError"}
