"""DDP under torchrun with two CPU processes (gloo): identical weights on both ranks, one writer."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _torchrun(script: str, out: Path, timeout: float) -> None:
    """Run `script OUT` under torchrun with two single-threaded CPU processes; assert it exits 0."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / script), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_two_process_ddp_ends_with_identical_weights(tmp_path: Path) -> None:
    _torchrun("ddp_script.py", tmp_path, timeout=300)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for key in r0:
        assert torch.equal(r0[key], r1[key]), key
    # training moved the weights away from rank 0's initialisation
    torch.manual_seed(100)
    from train_helpers import TinyNet

    init = TinyNet().state_dict()
    assert not torch.equal(init["head.weight"], r0["head.weight"])
    # metrics are summed over ranks: both report the same numbers over all 30 test images
    t0, t1 = (json.loads((tmp_path / f"test{r}.json").read_text()) for r in (0, 1))
    assert t0 == t1 and round(t0["top1"] * 30, 6) == int(round(t0["top1"] * 30))
    run = tmp_path / "run"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]  # written once, by rank 0
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert len(ckpt["loops"]["train"]["ranks"]) == 2  # every rank's RNG and stream state


@pytest.mark.slow
def test_a_step_failing_on_one_rank_stops_every_rank(tmp_path: Path) -> None:
    _torchrun("ddp_agree_script.py", tmp_path, timeout=120)
    r0, r1 = ((tmp_path / f"rank{r}.txt").read_text() for r in (0, 1))
    assert r1 == "ConfigError: data.dataset: no such data file on this node"
    assert r0.startswith("NascError: rank 1 failed: data.dataset: no such data file on this node")
