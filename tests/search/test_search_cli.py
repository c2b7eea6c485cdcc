"""`nasc search darts`: a tiny search writes its run directory; the derived network passes
`nasc check`, compiles and trains; errors render with exit code 1."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nasc.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "examples" / "darts_space.nas"
runner = CliRunner()
# C=4, 3 cells, 16 train / 16 held-out images in batches of 8: 2 steps per epoch
TINY = ["--set", "search.darts.channels=4", "--set", "search.darts.cells=3",
        "--set", "data.train_size=32", "--set", "data.test_size=8", "--set", "data.batch_size=8",
        "--set", "trainer.epochs=2", "--set", "run.threads=1", "--set", "run.device=cpu"]


@pytest.mark.slow
@pytest.mark.parametrize("order", ["--first-order", "--second-order"])
def test_tiny_search_writes_a_checkable_compilable_trainable_network(tmp_path: Path, order: str) -> None:
    out = tmp_path / "run"
    r = runner.invoke(app, ["search", "darts", str(SPACE), "--out", str(out), order, "--seed", "1", *TINY])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    genotype = (out / "genotype.txt").read_text().strip()
    assert lines[0] == f"genotype: {genotype}" and genotype.startswith("Genotype(normal=[[(")
    assert lines[1] == f"run dir: {out}"
    assert f"  final.nas     {out / 'final.nas'}" in lines
    # on the built-in data the suggested next step is toy-sized
    assert lines[-1] == (f"next: nasc compile {out / 'final.nas'} -o model.pt --cells 5 --channels 8 "
                         "--aux --drop-path && nasc train model.pt")
    names = {p.name for p in out.iterdir()}
    assert {"config.yaml", "log.txt", "log.jsonl", "metrics.jsonl", "alphas.jsonl", "checkpoints",
            "space.nas", "final.nas", "final.yaml", "genotype.txt", "provenance.json",
            "supernet.pt"} <= names

    # one alpha-history row per epoch; the last one's genotype is the final one
    rows = [json.loads(x) for x in (out / "alphas.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1] and rows[-1]["genotype"] == genotype
    assert len(rows[-1]["alphas"]["normal"]) == 14 and len(rows[-1]["mixing"]) == 28
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [0, 1] and all("val_top1" in m for m in metrics)
    prov = json.loads((out / "provenance.json").read_text())
    expected_order = order.strip("-").split("-")[0]
    assert prov["algorithm"] == "darts" and prov["order"] == expected_order
    assert prov["seed"] == 1 and prov["epochs"] == 2 and prov["genotype"] == genotype
    assert prov["alphas"] == rows[-1]["alphas"]
    saved = torch.load(out / "supernet.pt", weights_only=True)
    assert saved["alphas"] == prov["alphas"]
    text = (out / "final.nas").read_text()
    assert text.startswith("# Derived by `nasc search darts`") and "param C = 4" in text

    for src in ("final.nas", "final.yaml"):
        r = runner.invoke(app, ["check", str(out / src)])
        assert r.exit_code == 0, r.output
    model = tmp_path / "model.pt"
    r = runner.invoke(app, ["compile", str(out / "final.nas"), "-o", str(model), "--cells", "3",
                            "--channels", "4"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", str(model), "--epochs", "1", "--out", str(tmp_path / "train"),
                            "--set", "data.train_size=16", "--set", "data.test_size=8",
                            "--set", "data.batch_size=8", "--set", "run.threads=1",
                            "--set", "trainer.tensorboard=false"])
    assert r.exit_code == 0, r.output
    assert "test top-1" in r.stdout


def test_search_of_a_network_without_choices_is_a_rendered_error(tmp_path: Path) -> None:
    r = runner.invoke(app, ["search", "darts", str(ROOT / "examples" / "darts_v2_cifar.nas"),
                            "--out", str(tmp_path / "run"), *TINY])
    assert r.exit_code == 1
    assert "is not a search space: it has no `choice` edges" in r.stderr
    assert "Traceback" not in r.output


def test_unknown_darts_key_is_a_config_error_with_a_hint(tmp_path: Path) -> None:
    r = runner.invoke(app, ["search", "darts", str(SPACE), "--out", str(tmp_path / "run"),
                            "--set", "search.darts.chanels=8"])
    assert r.exit_code == 1
    assert "unknown key `search.darts.chanels`" in r.stderr and "channels" in r.stderr


def test_resume_refuses_new_settings(tmp_path: Path) -> None:
    r = runner.invoke(app, ["search", "darts", "--resume", str(tmp_path), "--seed", "3"])
    assert r.exit_code == 1
    assert "--seed cannot be combined with --resume" in r.stderr


def test_missing_space_argument(tmp_path: Path) -> None:
    r = runner.invoke(app, ["search", "darts", "--out", str(tmp_path / "run")])
    assert r.exit_code == 1 and "missing SPACE argument" in r.stderr


@pytest.mark.slow
def test_toy_search_derives_a_network_that_trains_clearly_above_chance(tmp_path: Path) -> None:
    # The acceptance path at reduced size: the shipped toy config (3 cells, C=4, batch 32) cut to
    # one epoch of 10 iterations, then the derived cells compiled at 3 cells, C=8 and trained
    # for 2 epochs of 2000 built-in images with the toy evaluation recipe.
    out = tmp_path / "search"
    r = runner.invoke(app, ["search", "darts", str(SPACE), "--out", str(out), "--seed", "0",
                            "--set", "data.train_size=640", "--set", "trainer.epochs=1",
                            "--set", "run.threads=1", "--set", "run.device=cpu",
                            "--set", "trainer.tensorboard=false"])
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, ["check", str(out / "final.nas")]).exit_code == 0
    model = tmp_path / "model.pt"
    r = runner.invoke(app, ["compile", str(out / "final.nas"), "-o", str(model), "--cells", "3",
                            "--channels", "8", "--aux", "--drop-path"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", str(model), "--epochs", "2", "--out", str(tmp_path / "train"),
                            "--set", "data.train_size=2000", "--set", "data.test_size=500",
                            "--set", "run.threads=1", "--set", "trainer.tensorboard=false"])
    assert r.exit_code == 0, r.output
    top1 = float(r.stdout.split("test top-1 ")[1].split("%")[0])
    assert top1 >= 35.0, r.stdout  # chance is 10%


@pytest.mark.parametrize("algorithm", ["random", "petridish"])  # the differentiable ones run
def test_search_under_multiprocess_torchrun_is_refused_before_writing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, algorithm: str) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun sets for every rank
    out = tmp_path / "run"
    r = runner.invoke(app, ["search", algorithm, str(SPACE), "--out", str(out)])
    assert r.exit_code == 1
    assert f"`nasc search {algorithm}` runs in a single process" in r.stderr
    assert not out.exists()
