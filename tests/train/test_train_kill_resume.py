"""A run killed with SIGKILL at several points and resumed with `--resume RUN_DIR` ends with
bit-identical weights and identical metrics to an uninterrupted run (subprocesses, one thread)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCRIPT = HERE / "resume_script.py"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def _run_to_end(args: list[str]) -> list[str]:
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def _run_and_kill(args: list[str], when: str) -> list[str]:
    """Start the script, SIGKILL it right after it prints the line `when`; returns its output."""
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *args, "--sleep", "0.05"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    seen: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line.strip())
        if line.strip() == when:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (seen, proc.stderr.read() if proc.stderr else "")
    proc.stdout.close()
    if proc.stderr:
        proc.stderr.close()
    return seen


def _metrics(run: Path) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "time"} for row in rows]


@pytest.mark.slow
def test_killed_and_resumed_run_is_bit_identical(tmp_path: Path) -> None:
    ref, run = tmp_path / "ref", tmp_path / "run"
    out = _run_to_end(["--out", str(ref)])
    assert out[-1] == "DONE" and "START 0 0 0" in out

    # 10 steps per epoch, checkpoints every 3 steps and after every epoch
    first = _run_and_kill(["--out", str(run)], "STEP 0 5")  # after 5 steps, mid-epoch
    assert "CKPT 3" in first and "EPOCH 0" not in first
    second = _run_and_kill(["--resume", str(run)], "EPOCH 0")  # between epochs
    assert second[0] == "START 0 3 1"  # resumed after the checkpoint at step 3
    third = _run_and_kill(["--resume", str(run)], "STEP 2 2")  # mid-epoch of the last epoch
    assert third[0] == "START 1 0 1"
    last = _run_to_end(["--resume", str(run)])
    assert last[0].startswith("START 2 ") and last[0].endswith(" 1") and last[-1] == "DONE"

    want = torch.load(ref / "final_state.pt", weights_only=True)
    got = torch.load(run / "final_state.pt", weights_only=True)
    assert list(want) == list(got)
    for key in want:
        assert torch.equal(want[key], got[key]), key
    assert _metrics(run) == _metrics(ref) and len(_metrics(ref)) == 3
