"""`nasc run ALGO SPACE`: search then evaluate as one experiment; a SIGKILL in either phase and
`--resume` give the uninterrupted experiment's result, and a finished phase is not run again."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nasc.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "examples" / "darts_space.nas"
runner = CliRunner()
# search: 3 cells, C=4, 2 epochs of 4 steps; eval: 3 cells, C=4, 2 epochs of 4 steps
TINY = ["--set", "search.darts.cells=3", "--set", "data.train_size=64", "--set", "data.test_size=16",
        "--set", "data.batch_size=8", "--set", "trainer.epochs=2", "--set", "run.threads=1",
        "--set", "run.device=cpu", "--set", "trainer.checkpoint_every_steps=1",
        "--eval-set", "trainer.epochs=2", "--eval-set", "data.train_size=32",
        "--eval-set", "data.test_size=16", "--eval-set", "data.batch_size=8",
        "--eval-set", "run.threads=1", "--eval-set", "run.device=cpu",
        "--eval-set", "trainer.checkpoint_every_steps=1", "--eval-set", "trainer.tensorboard=false",
        "--cells", "3", "--channels", "4"]


def _kill_at(args: list[str], line: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nasc", "run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    for text in proc.stdout:
        if line in text:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=300)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "eval" / "model.pt", weights_only=True)["state_dict"]


def test_missing_arguments_are_refused(tmp_path: Path) -> None:
    r = runner.invoke(app, ["run", "darts"])
    assert r.exit_code == 1 and "missing ALGO and SPACE" in r.output
    r = runner.invoke(app, ["run", "--resume", str(tmp_path), "--cells", "3"])
    assert r.exit_code == 1 and "cannot be combined with --resume" in r.output


@pytest.mark.slow
def test_experiment_resumes_in_either_phase_to_the_same_result(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    r = runner.invoke(app, ["run", "darts", str(SPACE), "--out", str(whole), *TINY])
    assert r.exit_code == 0, r.output
    summary = json.loads((whole / "summary.json").read_text())
    assert summary["algorithm"] == "darts" and summary["cells"] == 3 and summary["aux"]
    assert summary["genotype"] == (whole / "search" / "genotype.txt").read_text().strip()
    assert r.stdout.splitlines()[0] == f"derived: {summary['genotype']}"
    assert {"search", "eval", "model.pt", "experiment.json", "summary.md"} <= {
        p.name for p in whole.iterdir()}

    # killed during the search, then during the evaluation
    killed = tmp_path / "killed"
    _kill_at(["darts", str(SPACE), "--out", str(killed), *TINY],
             "[darts] checkpoint at epoch 1 step 2")
    plan = json.loads((killed / "experiment.json").read_text())
    assert "search" not in plan["phases"]
    _kill_at(["--resume", str(killed)], "[train] checkpoint at epoch 1 step 2")
    plan = json.loads((killed / "experiment.json").read_text())
    assert plan["phases"]["search"]["done"] and "eval" not in plan["phases"]
    r = runner.invoke(app, ["run", "--resume", str(killed)])
    assert r.exit_code == 0, r.output
    again = json.loads((killed / "summary.json").read_text())
    for key in ("genotype", "params", "macs", "test_top1", "test_top5"):
        assert again[key] == summary[key], key
    a, b = _weights(whole), _weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # a finished experiment resumed again runs nothing
    r = runner.invoke(app, ["run", "--resume", str(killed)])
    assert r.exit_code == 0 and "[run] search: done" in r.output
