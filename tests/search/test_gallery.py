"""`nasc gallery eval RUN_DIR`: the frontier models of a tiny Petridish run, trained at another
size; results, plot, and a second call that finds every model done."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasc.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "petridish_seed.nas"
runner = CliRunner()
DATA = ["--set", "data.train_size=32", "--set", "data.test_size=16", "--set", "data.batch_size=8",
        "--set", "run.threads=1", "--set", "run.device=cpu"]


@pytest.mark.slow
def test_gallery_eval_trains_every_frontier_model(tmp_path: Path) -> None:
    run = tmp_path / "search"
    r = runner.invoke(app, ["search", "petridish", str(SEED), "--out", str(run), *DATA,
                            "--set", "search.petridish.channels=4", "--set", "trainer.epochs=1",
                            "--set", "search.petridish.pareto.max_cells=3",
                            "--set", "search.petridish.pareto.max_nodes=2",
                            "--set", "search.petridish.max_jobs=2"])
    assert r.exit_code == 0, r.output
    gallery = sorted(int(p.stem.split("-")[1]) for p in (run / "gallery").glob("*.nas"))
    assert gallery
    r = runner.invoke(app, ["gallery", "eval", str(run), "--cells", "4", "--channels", "4",
                            "--epochs", "1", *DATA, "--set", "trainer.tensorboard=false",
                            "--set", "trainer.drop_path_prob=0"])
    assert r.exit_code == 0, r.output
    out = run / "gallery-eval"
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["id"]) for row in rows] == gallery
    assert all(0.0 <= float(row["test_top1"]) <= 1.0 for row in rows)
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    first = json.loads((out / "results.json").read_text())
    # scaled to 4 cells: more parameters than the 3-cell models of the pool
    pool = {p["id"]: p for p in json.loads((run / "pool.json").read_text())["pool"]}
    assert all(row["params"] > pool[row["id"]]["params"] for row in first)
    # a second call finds every model done (the checkpoint) and trains none
    r = runner.invoke(app, ["gallery", "eval", str(run), "--cells", "4", "--channels", "4",
                            "--epochs", "1", *DATA])
    assert r.exit_code == 0, r.output
    assert f"({len(gallery)} done)" in (out / "log.txt").read_text()
    assert json.loads((out / "results.json").read_text()) == first


def test_gallery_eval_of_a_folder_without_gallery_is_an_error(tmp_path: Path) -> None:
    r = runner.invoke(app, ["gallery", "eval", str(tmp_path)])
    assert r.exit_code == 1 and "has no gallery/ folder" in r.output
