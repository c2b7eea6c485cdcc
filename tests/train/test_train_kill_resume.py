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
    """Start the script, SIGKILL it right after it prints the line `when`; returns all it printed."""
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *args, "--sleep", "0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    seen: list[str] = []
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        seen.append(line.strip())
        if line.strip() == when:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    seen += proc.stdout.read().splitlines()  # what it printed before the signal arrived
    err = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, (seen, err)
    return seen


def _resumed_at(lines: list[str]) -> int:
    """The global step a run started at (`START epoch step resumed`, 10 steps per epoch)."""
    _, epoch, step, resumed = lines[0].split()
    assert resumed == "1"
    return int(epoch) * 10 + int(step)


def _check_resume_point(killed: list[str], resumed: list[str]) -> None:
    """A resumed run starts at the last checkpoint the killed one reported, or at the next one
    (when the kill landed between writing a checkpoint and printing its line)."""
    last = max(int(x.split()[1]) for x in killed if x.startswith("CKPT"))
    boundaries = [k for k in range(last + 1, 31) if k % 3 == 0 or k % 10 == 0]
    assert _resumed_at(resumed) in (last, *boundaries[:1])


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
    assert "CKPT 3" in first
    second = _run_and_kill(["--resume", str(run)], "EPOCH 0")  # between epochs
    _check_resume_point(first, second)
    assert _resumed_at(second) < 10  # it resumed mid-epoch 0
    third = _run_and_kill(["--resume", str(run)], "STEP 2 2")  # mid-epoch of the last epoch
    _check_resume_point(second, third)
    last = _run_to_end(["--resume", str(run)])
    _check_resume_point(third, last)
    assert _resumed_at(last) >= 20 and last[-1] == "DONE"

    want = torch.load(ref / "final_state.pt", weights_only=True)
    got = torch.load(run / "final_state.pt", weights_only=True)
    assert list(want) == list(got)
    for key in want:
        assert torch.equal(want[key], got[key]), key
    assert _metrics(run) == _metrics(ref) and len(_metrics(ref)) == 3
