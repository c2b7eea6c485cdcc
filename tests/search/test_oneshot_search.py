"""`nasc search pc-darts|gdas`: a tiny search writes DARTS' run directory (alphas.jsonl,
supernet.pt, final.nas that passes `nasc check`), and a search killed with SIGKILL at several
points and continued with `--resume` ends with bit-identical alphas, weights, history and metrics
(subprocesses, one thread; the pattern of test_search_resume.py)."""
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
from nasc.frontend import load_model
from nasc.search.oneshot import build_oneshot
from nasc.search.pcdarts_search import PcDartsSupernet
from nasc.search.scaffold import load_search_config
from nasc.search.space import prepare_space

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "examples" / "darts_space.nas"
runner = CliRunner()


def _tiny(name: str) -> list[str]:
    section = name.replace("-", "_")
    # C=4 (K=4 leaves one searched channel per edge), 3 cells, 16 + 16 images in batches of 8
    return ["--set", f"search.{section}.channels=4", "--set", f"search.{section}.cells=3",
            "--set", "data.train_size=32", "--set", "data.test_size=8",
            "--set", "data.batch_size=8", "--set", "trainer.epochs=2", "--set", "run.threads=1",
            "--set", "run.device=cpu"]


@pytest.mark.parametrize("name", ["pc-darts", "gdas"])
def test_tiny_search_writes_darts_outputs_and_a_checkable_network(tmp_path: Path, name: str) -> None:
    out = tmp_path / "run"
    extra = ["--set", "search.pc_darts.warmup_epochs=1"] if name == "pc-darts" else []
    r = runner.invoke(app, ["search", name, str(SPACE), "--out", str(out), "--seed", "1",
                            *_tiny(name), *extra])
    assert r.exit_code == 0, r.output
    genotype = (out / "genotype.txt").read_text().strip()
    assert r.stdout.splitlines()[0] == f"genotype: {genotype}"
    assert {"alphas.jsonl", "supernet.pt", "final.nas", "final.yaml", "provenance.json",
            "space.nas", "metrics.jsonl", "checkpoints"} <= {p.name for p in out.iterdir()}
    rows = [json.loads(x) for x in (out / "alphas.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [0, 1] and rows[-1]["genotype"] == genotype
    sup = torch.load(out / "supernet.pt", weights_only=True)
    assert sup["alphas"] == rows[-1]["alphas"]
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["algorithm"] == name and prov["status"] == "finished"
    if name == "pc-darts":
        assert sup["betas"] == rows[-1]["betas"] == prov["betas"] and sup["k"] == 4
        assert any(k.startswith("beta.") for k in sup["state_dict"])
    else:
        assert [row["tau"] for row in rows] == [10.0, pytest.approx(0.1)]
    assert runner.invoke(app, ["check", str(out / "final.nas")]).exit_code == 0


def test_pc_darts_warm_up_leaves_the_architecture_untouched(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = runner.invoke(app, ["search", "pc-darts", str(SPACE), "--out", str(out), "--seed", "1",
                            *_tiny("pc-darts"), "--set", "search.pc_darts.warmup_epochs=1"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (out / "alphas.jsonl").read_text().splitlines()]
    # the run's initial architecture parameters, drawn again from its config and seed
    cfg = load_search_config("pc-darts", out / "config.yaml")
    pc = cfg.search.pc_darts
    s = build_oneshot(prepare_space(load_model(SPACE), pc), cfg, pc,
                      lambda sp, dev, cl: PcDartsSupernet.build(sp, k=pc.k, device=dev,
                                                                channels_last=cl))
    assert rows[0]["alphas"] == s.model.alpha_matrices()
    assert rows[0]["betas"] == s.model.beta_vectors()
    assert rows[1]["alphas"] != rows[0]["alphas"]


# ------------------------------------------------------------------ SIGKILL and resume

def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def _rows(path: Path) -> list[dict[str, object]]:
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]


def _cmd(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "nasc", "search", name, *args]


def _run(name: str, args: list[str]) -> None:
    proc = subprocess.run(_cmd(name, *args), capture_output=True, text=True, env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _run_and_kill(name: str, args: list[str], when: str) -> list[str]:
    proc = subprocess.Popen(_cmd(name, *args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
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


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pc-darts", "gdas"])
def test_killed_search_resumes_bit_identically(tmp_path: Path, name: str) -> None:
    section = name.replace("-", "_")
    # 28 train / 20 held-out images in batches of 8: 3 steps per epoch, 2 epochs, a checkpoint
    # after every step; PC-DARTS with one warm-up epoch, so the kills fall on both sides of it
    settings = ["--set", f"search.{section}.channels=4", "--set", f"search.{section}.cells=3",
                "--set", "data.train_size=48", "--set", "data.test_size=8",
                "--set", "data.batch_size=8", "--set", "trainer.epochs=2",
                "--set", "trainer.checkpoint_every_steps=1", "--set", "run.threads=1",
                "--set", "run.device=cpu", "--seed", "5"]
    if name == "pc-darts":
        settings += ["--set", "search.pc_darts.warmup_epochs=1"]
    ref, run = tmp_path / "ref", tmp_path / "run"
    _run(name, [str(SPACE), "--out", str(ref), *settings])

    seen = _run_and_kill(name, [str(SPACE), "--out", str(run), *settings],
                         f"[{name}] checkpoint at epoch 1 step 1 (step 1)")
    assert f"[{name}] starting: 2 epochs of 3 steps" in seen
    seen = _run_and_kill(name, ["--resume", str(run)], f"[{name}] checkpoint after epoch 1 (step 3)")
    assert f"[{name}] resuming at epoch 1, step 1: 2 epochs of 3 steps" in seen
    seen = _run_and_kill(name, ["--resume", str(run)], f"[{name}] checkpoint at epoch 2 step 2 (step 5)")
    assert f"[{name}] resuming at epoch 2, step 0: 2 epochs of 3 steps" in seen
    _run(name, ["--resume", str(run)])

    assert (run / "genotype.txt").read_text() == (ref / "genotype.txt").read_text()
    a = torch.load(run / "supernet.pt", weights_only=True)
    b = torch.load(ref / "supernet.pt", weights_only=True)
    assert a["alphas"] == b["alphas"]
    assert a.get("betas") == b.get("betas")
    assert list(a["state_dict"]) == list(b["state_dict"])
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert _rows(run / "alphas.jsonl") == _rows(ref / "alphas.jsonl")
    assert _rows(run / "metrics.jsonl") == _rows(ref / "metrics.jsonl")
    assert len(_rows(run / "alphas.jsonl")) == 2
