"""A DARTS search killed with SIGKILL at several points (mid-epoch after a step checkpoint,
between epochs) and continued with `--resume` ends with the same architecture and bit-identical
weights, alphas, alpha history and metrics as an uninterrupted run (subprocesses, one thread)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "examples" / "darts_space.nas"
# 28 train / 20 held-out images (a stratified split of 48), batches of 8: 3 steps per epoch,
# 2 epochs, second order, a checkpoint after every step
SETTINGS = ["--second-order", "--set", "search.darts.channels=4", "--set", "search.darts.cells=3",
            "--set", "data.train_size=48", "--set", "data.test_size=8", "--set", "data.batch_size=8",
            "--set", "trainer.epochs=2", "--set", "trainer.checkpoint_every_steps=1",
            "--set", "run.threads=1", "--set", "run.device=cpu", "--seed", "5"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "nasc", "search", "darts", *args]


def _run(args: list[str]) -> None:
    proc = subprocess.run(_cmd(*args), capture_output=True, text=True, env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _run_and_kill(args: list[str], when: str) -> list[str]:
    """Start a search, SIGKILL it as soon as its progress output shows line `when`."""
    proc = subprocess.Popen(_cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=_env())
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line.rstrip())
        if line.rstrip() == when:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=120)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, seen
    return seen


def _rows(path: Path) -> list[dict[str, object]]:
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]


@pytest.mark.slow
def test_killed_search_resumes_bit_identically(tmp_path: Path) -> None:
    ref, run = tmp_path / "ref", tmp_path / "run"
    _run([str(SPACE), "--out", str(ref), *SETTINGS])

    # mid-epoch: right after the step checkpoint of epoch 1, step 1
    seen = _run_and_kill([str(SPACE), "--out", str(run), *SETTINGS],
                         "[darts] checkpoint at epoch 1 step 1 (step 1)")
    assert "[darts] starting: 2 epochs of 3 steps" in seen
    # between epochs: right after the end-of-epoch checkpoint of epoch 1
    seen = _run_and_kill(["--resume", str(run)], "[darts] checkpoint after epoch 1 (step 3)")
    assert "[darts] resuming at epoch 1, step 1: 2 epochs of 3 steps" in seen
    # mid-epoch again, in the last epoch
    seen = _run_and_kill(["--resume", str(run)], "[darts] checkpoint at epoch 2 step 2 (step 5)")
    assert "[darts] resuming at epoch 2, step 0: 2 epochs of 3 steps" in seen
    _run(["--resume", str(run)])

    assert (run / "genotype.txt").read_text() == (ref / "genotype.txt").read_text()
    assert (run / "final.nas").read_text().splitlines()[3:] == (ref / "final.nas").read_text().splitlines()[3:]
    a = torch.load(run / "supernet.pt", weights_only=True)
    b = torch.load(ref / "supernet.pt", weights_only=True)
    assert a["alphas"] == b["alphas"]
    assert list(a["state_dict"]) == list(b["state_dict"])
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert _rows(run / "alphas.jsonl") == _rows(ref / "alphas.jsonl")
    assert _rows(run / "metrics.jsonl") == _rows(ref / "metrics.jsonl")
    assert len(_rows(run / "alphas.jsonl")) == 2
