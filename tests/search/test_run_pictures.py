"""Run pictures and reports: every run directory (train, DARTS, random, Petridish) ends with its
pictures; `nasc plot` redraws them from the files; `nasc report` over three DARTS seeds writes
the table with the right statistics and the envelope plot; a failing picture is only logged."""
from __future__ import annotations

import io
import json
import math
import shutil
import statistics
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from nasc.cli.app import app
from nasc.train.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "examples" / "darts_space.nas"
runner = CliRunner()
# 16 train / 16 held-out images in batches of 8, one thread: a few seconds per run
DATA = ["--set", "data.train_size=32", "--set", "data.test_size=8", "--set", "data.batch_size=8",
        "--set", "run.threads=1", "--set", "run.device=cpu", "--set", "trainer.tensorboard=false"]
DARTS = ["--first-order", "--set", "search.darts.channels=4", "--set", "search.darts.cells=3",
         "--set", "trainer.epochs=2", *DATA]


def is_png(path: Path) -> bool:
    """A PNG file Pillow can decode."""
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return False
    Image.open(io.BytesIO(data)).verify()
    return True


def is_svg(path: Path) -> bool:
    """Well-formed XML whose root is an <svg> element."""
    return ET.parse(path).getroot().tag.endswith("svg")


def gif_frames(path: Path) -> int:
    """The number of frames of an animated GIF."""
    with Image.open(path) as im:
        assert im.format == "GIF"
        return getattr(im, "n_frames", 1)


def search(tmp: Path, name: str, *args: str) -> Path:
    out = tmp / name
    r = runner.invoke(app, ["search", *args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert f"pictures/     {out / 'pictures'}" in r.stdout  # the summary names the folder once
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """One tiny run of each kind (DARTS with three seeds for the report), made once."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("runs")
    made = {f"darts{s}": search(tmp, f"darts{s}", "darts", str(SPACE), "--seed", str(s), *DARTS)
            for s in (1, 2, 3)}
    made["random"] = search(tmp, "random", "random", str(SPACE), "--seed", "1", "--trials", "2",
                            "--set", "search.random.cells=3", "--set", "trainer.epochs=2", *DATA)
    made["petridish"] = search(
        tmp, "petridish", "petridish", str(ROOT / "examples" / "petridish_seed.nas"),
        "--set", "search.petridish.channels=4", "--set", "search.petridish.pareto.max_cells=3",
        "--set", "search.petridish.pareto.max_nodes=2", "--set", "search.petridish.max_jobs=3",
        "--set", "search.petridish.candidate_ops=[skip_connect, max_pool_3x3]",
        "--set", "trainer.epochs=1", *DATA)
    model = tmp / "model.pt"
    r = runner.invoke(app, ["compile", str(made["darts1"] / "final.nas"), "-o", str(model),
                            "--cells", "3", "--channels", "4"])
    assert r.exit_code == 0, r.output
    made["train"] = tmp / "train"
    r = runner.invoke(app, ["train", str(model), "--epochs", "2", "--out", str(made["train"]), *DATA])
    assert r.exit_code == 0, r.output
    yield made
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_a_darts_run_has_curves_heatmaps_per_epoch_animations_and_derived_cells(
        runs: dict[str, Path]) -> None:
    pics = runs["darts1"] / "pictures"
    assert is_png(pics / "curves.png") and is_svg(pics / "curves.svg")
    for template in ("normal", "reduce"):
        for epoch in (1, 2):
            assert is_png(pics / "alphas" / f"{template}_epoch{epoch:03d}.png")
        assert is_svg(pics / "alphas" / f"{template}_final.svg")
        assert gif_frames(pics / "alphas" / f"{template}.gif") == 2
    for epoch in (1, 2):
        assert is_svg(pics / "cells" / f"epoch{epoch:03d}.svg")
        assert is_png(pics / "cells" / f"epoch{epoch:03d}.png")
    assert gif_frames(pics / "cells" / "evolution.gif") == 2
    # the heatmap columns are the space's candidate ops, the rows its choice edges
    svg = (pics / "alphas" / "normal_final.svg").read_text()
    assert "sep_conv_3x3" in svg and "n3.e4 &lt;- n2" in svg
    assert "pictures: " in (runs["darts1"] / "log.txt").read_text()


@pytest.mark.slow
def test_random_petridish_and_train_runs_have_their_pictures(runs: dict[str, Path]) -> None:
    for kind in ("random", "petridish", "train"):
        pics = runs[kind] / "pictures"
        assert is_png(pics / "curves.png") and is_svg(pics / "curves.svg"), kind
    assert is_png(runs["random"] / "pictures" / "front.png")
    assert is_svg(runs["random"] / "pictures" / "front.svg")
    assert is_png(runs["petridish"] / "pool.png")  # Petridish's own front, reused
    assert not (runs["train"] / "pictures" / "alphas").exists()


@pytest.mark.slow
def test_nasc_plot_redraws_the_pictures_from_the_files(runs: dict[str, Path]) -> None:
    run = runs["darts2"]
    before = (run / "pictures" / "curves.svg").read_bytes()
    shutil.rmtree(run / "pictures")
    r = runner.invoke(app, ["plot", str(run)])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1].startswith("wrote ") and f"for {run}" in r.stdout
    assert (run / "pictures" / "curves.svg").read_bytes() == before  # deterministic SVG
    assert gif_frames(run / "pictures" / "alphas" / "normal.gif") == 2
    r = runner.invoke(app, ["plot", str(runs["random"])])
    assert r.exit_code == 0 and str(runs["random"] / "pictures" / "front.png") in r.stdout


def test_nasc_plot_of_a_folder_that_is_no_run_is_a_rendered_error(tmp_path: Path) -> None:
    r = runner.invoke(app, ["plot", str(tmp_path)])
    assert r.exit_code == 1
    assert "is not a run directory" in r.stderr and "Traceback" not in r.output


@pytest.mark.slow
def test_report_over_three_darts_seeds(runs: dict[str, Path], tmp_path: Path) -> None:
    dirs = [runs[f"darts{s}"] for s in (1, 2, 3)]
    last = [[json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()][-1]["val_top1"]
            for d in dirs]
    out = tmp_path / "report"
    r = runner.invoke(app, ["report", *map(str, dirs), "--out", str(out)])
    assert r.exit_code == 0, r.output
    mean, std = statistics.mean(last), statistics.stdev(last)
    assert r.stdout.splitlines()[0] == (
        f"darts: 3 run(s), val top-1 {100 * mean:.2f}% \u00b1 {100 * std:.2f}% "
        f"(min {100 * min(last):.2f}%, max {100 * max(last):.2f}%)")
    data = json.loads((out / "report.json").read_text())
    stats = data["stats"]["darts"]["val_top1"]
    assert stats["n"] == 3 and math.isclose(stats["mean"], mean) and math.isclose(stats["std"], std)
    assert stats["min"] == min(last) and stats["max"] == max(last)
    assert [run["seed"] for run in data["runs"]] == [1, 2, 3]
    assert all(run["params"] > 0 and run["macs"] > 0 and run["wall_s"] > 0 for run in data["runs"])
    md = (out / "report.md").read_text()
    assert f"| mean | {100 * mean:.2f} | " in md and f"| std | {100 * std:.2f} | " in md
    assert "![curves](curves.png)" in md
    genotypes = [(d / "genotype.txt").read_text().strip() for d in dirs]
    assert sum(len(a["runs"]) for a in data["architectures"]) == 3
    assert {a["architecture"] for a in data["architectures"]} == set(genotypes)
    assert is_png(out / "curves.png") and is_svg(out / "curves.svg")
    # runs of different algorithms are summarised per algorithm
    rep = runner.invoke(app, ["report", str(dirs[0]), str(runs["random"]), str(runs["train"]),
                              "--out", str(tmp_path / "mixed")])
    assert rep.exit_code == 0, rep.output
    assert {"darts", "random", "train"} == set(json.loads(
        (tmp_path / "mixed" / "report.json").read_text())["stats"])


def test_report_refuses_a_run_given_twice(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text("")
    r = runner.invoke(app, ["report", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "r")])
    assert r.exit_code == 1 and "is given twice" in r.stderr


def test_heatmaps_from_alphas_alone_number_the_ops(tmp_path: Path) -> None:
    # a run folder with only raw alphas (no mixing, no space.nas): softmax rows, numbered columns
    from nasc.search.pictures import write_run_pictures

    rows = [{"epoch": e, "alphas": {"normal": [[0.0, 0.1 * e, -0.1], [0.2, 0.0, 0.0]]}}
            for e in range(3)]
    (tmp_path / "alphas.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "{torn")
    made = write_run_pictures(tmp_path)
    assert gif_frames(tmp_path / "pictures" / "alphas" / "normal.gif") == 3
    assert "op 2" in (tmp_path / "pictures" / "alphas" / "normal_final.svg").read_text()
    assert any("no space.nas" in s for s in made.skipped)
    assert any("metrics.jsonl has no rows" in s for s in made.skipped)


def test_a_failing_picture_is_logged_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nasc.search import pictures

    def broken(run_dir: object) -> None:
        raise RuntimeError("no display")

    monkeypatch.setattr(pictures, "write_run_pictures", broken)
    run = RunDir.create("t", out=tmp_path / "run")
    assert pictures.pictures_or_note(run) == {}
    run.close()
    assert "no run pictures: RuntimeError: no display" in (tmp_path / "run" / "log.txt").read_text()
