"""`nasc search random` end to end: a tiny run writes a checkable network, trials.jsonl and
pareto.json; a resumed run gives the same trials; the Ray executor gives the in-process results."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nasc.cli.app import app
from nasc.train.checkpoint import Checkpoint

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "examples" / "darts_space.nas"
runner = CliRunner()
# C=4, 3 cells, 16 train / 16 held-out images in batches of 8, 1 epoch: 2 steps per trial
TINY = ["--trials", "2", "--set", "search.random.cells=3",
        "--set", "data.train_size=32", "--set", "data.test_size=8", "--set", "data.batch_size=8",
        "--set", "run.threads=1", "--set", "run.device=cpu", "--set", "search.executor.cpus=2",
        "--set", "trainer.epochs=1"]


def _trials(out: Path) -> list[dict[str, Any]]:
    """trials.jsonl without the wall times."""
    rows = [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]


@pytest.mark.slow
def test_tiny_random_search_writes_a_checkable_network(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = runner.invoke(app, ["search", "random", str(SPACE), "--out", str(out), "--seed", "1", *TINY])
    assert r.exit_code == 0, r.output
    rows = _trials(out)
    assert [row["trial"] for row in rows] == [0, 1]
    assert rows[0]["genotype"] != rows[1]["genotype"]
    assert all(0 <= row["val_top1"] <= 1 and row["macs"] > 0 and row["params"] > 0 for row in rows)
    best = min(rows, key=lambda row: (-row["val_top1"], row["macs"], row["trial"]))
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"best: trial {best['trial'] + 1} of 2, ")
    assert lines[1] == f"genotype: {best['genotype']}"
    assert lines[2] == f"run dir: {out}"
    pareto = json.loads((out / "pareto.json").read_text())
    assert best["trial"] in [p["trial"] for p in pareto]
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["algorithm"] == "random" and prov["best_trial"] == best["trial"]
    text = (out / "final.nas").read_text()
    assert text.startswith("# Found by `nasc search random`") and "param C = 4" in text
    assert best["genotype"] in text
    for src in ("final.nas", "final.yaml"):
        r = runner.invoke(app, ["check", str(out / src)])
        assert r.exit_code == 0, r.output


@pytest.mark.slow
def test_resume_after_losing_the_last_trial_gives_the_same_result(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = runner.invoke(app, ["search", "random", str(SPACE), "--out", str(out), *TINY])
    assert r.exit_code == 0, r.output
    first = _trials(out)
    final = (out / "final.nas").read_text()
    # as if killed during trial 2: the loop's checkpoint says 1 trial done, trials.jsonl has more
    ckpt = Checkpoint(out / "checkpoints" / "last.pt")
    state = ckpt.get("random")
    done = json.loads(state["results"])[:1]
    ckpt.commit("random", {"index": 1, "trials": 2, "results": json.dumps(done)})
    r = runner.invoke(app, ["search", "random", "--resume", str(out)])
    assert r.exit_code == 0, r.output
    assert "resuming at trial 2" in (out / "log.txt").read_text()
    assert _trials(out) == first
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["loop"] for m in metrics] == ["random/0/train", "random/1/train"]
    assert (out / "final.nas").read_text() == final


def test_resume_refuses_other_options(tmp_path: Path) -> None:
    r = runner.invoke(app, ["search", "random", "--resume", str(tmp_path), "--trials", "3"])
    assert r.exit_code == 1
    assert "--trials cannot be combined with --resume" in r.output


def test_bad_executor_is_a_user_error() -> None:
    r = runner.invoke(app, ["search", "random", str(SPACE), "--executor", "pool"])
    assert r.exit_code == 1 and "unknown executor `pool`" in r.output


@pytest.mark.slow
def test_ray_executor_matches_in_process(tmp_path: Path) -> None:
    import ray  # noqa: F401  (a test extra: a missing Ray fails here instead of skipping)
    runs = {}
    for executor in ("inline", "ray"):
        out = tmp_path / executor
        r = runner.invoke(app, ["search", "random", str(SPACE), "--out", str(out),
                                "--executor", executor, *TINY])
        assert r.exit_code == 0, r.output
        runs[executor] = _trials(out)
    assert runs["ray"] == runs["inline"]


def test_a_trial_restores_from_its_nested_trainer_checkpoint() -> None:
    import random

    from nasc.frontend import load_model
    from nasc.search.random import sample_choices
    from nasc.search.random_search import run_trial
    from nasc.search.space import prepare_space
    from nasc.search.scaffold import load_search_config

    cfg = load_search_config("random", ROOT / "examples" / "configs" / "search_random.yaml", overrides=[
        "search.random.cells=3", "data.train_size=32", "data.test_size=8", "data.batch_size=8",
        "run.threads=1", "run.device=cpu", "trainer.tensorboard=false", "trainer.epochs=1"])
    space = prepare_space(load_model(SPACE), cfg.search.random)
    picks = sample_choices(space, random.Random(0))
    ckpt = Checkpoint(None)
    first = run_trial(space, picks, cfg, 1, checkpoint=ckpt)
    assert ckpt.keys() == ["random/1/train"] and ckpt.get("random/1/train")["epoch"] == 1
    # the trial's checkpoint says it is trained: a re-run restores those weights and trains no
    # step. Zero the saved classifier: every logit is then 0, the held-out loss exactly ln(10)
    state = ckpt.get("random/1/train")
    state["model"] = {k: (v * 0 if k.startswith("head.1.") else v) for k, v in state["model"].items()}
    again = run_trial(space, picks, cfg, 1, checkpoint=ckpt)
    assert again["val_loss"] == pytest.approx(math.log(10), abs=1e-6)
    assert again["val_top1"] == pytest.approx(0.1)  # argmax of equal logits: class 0, 1 in 10
    assert again["picks"] == first["picks"] and again["macs"] == first["macs"]
    fresh = run_trial(space, picks, cfg, 2, checkpoint=None)  # another seed: other weights
    assert fresh["val_loss"] != first["val_loss"]


@pytest.mark.slow
def test_latency_cost_axis_measures_each_trial_and_orders_the_front_by_it(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = runner.invoke(app, ["search", "random", str(SPACE), "--out", str(out), *TINY,
                            "--set", "search.random.cost=latency_ms",
                            "--set", "search.random.latency_repeat=2"])
    assert r.exit_code == 0, r.output
    rows = _trials(out)
    assert all(row["latency_ms"] > 0 for row in rows)
    pareto = json.loads((out / "pareto.json").read_text())
    assert [p["latency_ms"] for p in pareto] == sorted(p["latency_ms"] for p in pareto)
    best = min(rows, key=lambda row: (-row["val_top1"], row["latency_ms"], row["trial"]))
    assert r.stdout.splitlines()[0].endswith(f"{best['macs']} MACs, {best['latency_ms']:.2f} ms")
