"""`nasc sweep` / `api.sweep`: the grid, the figures (equal to `stats` of each scaled network),
evenly placed reductions, skipped combinations, CSV/JSON/plot outputs, spaces, the torch-free
analytic path, latency, and training (failed jobs recorded; a tiny real run, slow)."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nasc import api
from nasc.cli.app import app
from nasc.errors import ConfigError, ValidationError
from nasc.ir.macro import default_reductions, spaced_reductions
from nasc.passes.scale_up import scale_up
from nasc.passes.set_nodes import set_nodes
from nasc.search import sweep as sweep_mod
from nasc.search.sweep import grid, parse_axis, pareto_keys

ROOT = Path(__file__).resolve().parents[2]
V2 = ROOT / "examples" / "darts_v2_cifar.nas"
SPACE = ROOT / "examples" / "darts_space.nas"
runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# 2 tiny networks of DARTS_V2 trained 1 epoch on 16 + 16 built-in images
TINY_TRAIN = ["--set", "data.train_size=32", "--set", "data.test_size=8", "--set", "data.batch_size=8",
              "--set", "trainer.epochs=1", "--set", "run.device=cpu", "--set", "run.threads=1"]


# ---- the grid ----------------------------------------------------------------------------------

def test_parse_axis() -> None:
    assert parse_axis("8:11", "cells") == (8, 9, 10, 11)
    assert parse_axis("8:20:6", "cells") == (8, 14, 20)
    assert parse_axis("16, 36", "channels") == (16, 36)
    assert parse_axis("5", "nodes") == (5,)
    assert parse_axis(7, "cells") == (7,)
    assert parse_axis([3, 3, 2], "cells") == (3, 2)
    assert parse_axis("0:2", "reductions") == (0, 1, 2)
    assert parse_axis(None, "cells") is None
    for bad, msg in (("8:x", "cannot read `8:x`"), ("9:3", "empty range `9:3`"), ("", "no values"),
                     ("0", "at least 1"), ("1:2:0", "cannot read")):
        with pytest.raises(ConfigError) as e:
            parse_axis(bad, "cells")
        assert msg in e.value.message and e.value.key == "--cells"


def test_grid_is_the_product_cells_outermost() -> None:
    points = grid(cells=(3, 5), channels=(8, 16))
    assert [(p.index, p.cells, p.channels, p.nodes, p.reductions) for p in points] == [
        (0, 3, 8, None, None), (1, 3, 16, None, None), (2, 5, 8, None, None), (3, 5, 16, None, None)]
    assert len(grid()) == 1


def test_spaced_reductions() -> None:
    for cells in range(2, 40):
        assert spaced_reductions(cells, 2) == default_reductions(cells)  # the DARTS thirds
    assert spaced_reductions(20, 3) == (5, 10, 15)
    assert spaced_reductions(8, 1) == (4,)
    assert spaced_reductions(8, 0) == ()
    assert spaced_reductions(3, 3) == (0, 1, 2)
    for cells in range(0, 25):
        for count in range(cells + 1):
            got = spaced_reductions(cells, count)
            assert len(got) == count and all(0 <= r < cells for r in got)
    with pytest.raises(ConfigError) as e:
        spaced_reductions(3, 4)
    assert e.value.message == "4 reduction cell(s) do not fit in 3 cell(s)"
    with pytest.raises(ConfigError):
        spaced_reductions(3, -1)


# ---- the figures -------------------------------------------------------------------------------

def test_rows_equal_stats_of_each_scaled_network_and_the_plot_is_a_png(tmp_path: Path) -> None:
    out_json, plot = tmp_path / "sweep.json", tmp_path / "front.png"
    r = runner.invoke(app, ["sweep", str(V2), "--cells", "8,14,20", "--channels", "16,32,48",
                            "--json", str(out_json), "--plot", str(plot)])
    assert r.exit_code == 0, r.output
    data = json.loads(out_json.read_text())
    rows = data["rows"]
    assert [(row["cells"], row["channels"]) for row in rows] == [
        (c, ch) for c in (8, 14, 20) for ch in (16, 32, 48)]
    model = api.load(V2)
    for row in rows:
        assert row["status"] == "ok" and row["kind"] == "network"
        want = api.stats(scale_up(model, cells=row["cells"], channels=row["channels"])).as_dict()
        assert (row["params"], row["macs"], row["activation_bytes"], row["params_with_aux"]) == (
            want["params"], want["macs"], want["activation_bytes"], want["params_with_aux"])
        assert row["reduction_cells"] == list(default_reductions(row["cells"]))
        assert f"{row['params']:,}" in r.stdout and f"{row['macs']:,}" in r.stdout
    # the paper's network is one of the points
    assert (rows[-1]["params"], rows[-1]["macs"]) != (3_349_342, 528_359_040)
    paper = api.sweep(V2, cells=20, channels=36).rows[0]
    assert (paper["params"], paper["macs"]) == (3_349_342, 528_359_040)
    assert data["front"] == [0] and rows[0]["front"] is True  # the smallest beats all on both costs
    assert plot.read_bytes().startswith(PNG_MAGIC) and plot.stat().st_size > 10_000
    assert f"plot: {plot}" in r.stdout


def test_reductions_and_nodes_axes(tmp_path: Path) -> None:
    result = api.sweep(V2, cells=9, reductions="1:3", nodes="2,4", channels=8)
    got = [(row["reductions"], row["reduction_cells"], row["nodes"]) for row in result.rows]
    assert got == [(1, [4], 2), (1, [4], 4), (2, [3, 6], 2), (2, [3, 6], 4), (3, [2, 4, 6], 2),
                   (3, [2, 4, 6], 4)]
    model = api.load(V2)
    for row in result.rows:
        scaled = scale_up(set_nodes(model, row["nodes"]), cells=9, channels=8,
                          reductions=row["reduction_cells"])
        # DARTS' aux tower needs an 8x8 map: with 1 or 3 reductions it is left out and said so
        fits = row["reductions"] == 2
        if not fits:
            scaled = scaled.model_copy(update={"aux": None})
            assert row["params_with_aux"] is None and "aux tower" in row["reason"]
        assert row["params"] == api.stats(scaled).cost.params
        assert row["status"] == "ok"
    by = {(row["reductions"], row["nodes"]): row for row in result.rows}
    assert by[(2, 2)]["params"] < by[(2, 4)]["params"]


def test_invalid_combinations_are_skipped_rows(tmp_path: Path) -> None:
    r = runner.invoke(app, ["sweep", str(V2), "--cells", "3,4", "--reductions", "4", "--nodes", "4,5",
                            "--channels", "8", "--csv", str(tmp_path / "s.csv")])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert [(row["cells"], row["nodes"], row["status"]) for row in rows] == [
        ("3", "4", "skipped"), ("3", "5", "skipped"), ("4", "4", "ok"), ("4", "5", "skipped")]
    assert rows[0]["reason"].startswith("4 reduction cell(s) do not fit in 3 cell(s)")
    assert rows[3]["reason"].startswith("cell `normal` has 4 node(s); cannot keep 5")
    assert rows[0]["params"] == "" and rows[2]["params"] != ""
    assert "skipped: 4 reduction cell(s) do not fit in 3" in r.stdout
    assert "1 of 4 networks" in r.stdout


def test_csv_and_json_contents(tmp_path: Path) -> None:
    result = api.sweep(V2, cells="5,8", channels=8, csv=tmp_path / "s.csv", json=tmp_path / "s.json")
    assert result.files == {"csv": tmp_path / "s.csv", "json": tmp_path / "s.json"}
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == ("point,status,kind,cells,reductions,reduction_cells,nodes,channels,params,"
                        "params_with_aux,macs,activation_bytes,front,reason")
    first = result.rows[0]
    assert lines[1] == (f"0,ok,network,5,2,1 3,4,8,{first['params']},{first['params_with_aux']},"
                        f"{first['macs']},{first['activation_bytes']},true,")
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["model"] == "darts_v2_cifar" and data["kind"] == "network"
    assert data["axes"] == {"cells": [5, 8], "reductions": None, "nodes": None, "channels": [8]}
    assert (data["x"], data["y"], data["front"]) == ("macs", "params", [0])
    assert data["rows"] == result.rows and data["columns"] == list(result.columns)


def test_model_params_and_config_keys_in_set(tmp_path: Path) -> None:
    r = runner.invoke(app, ["sweep", str(V2), "--cells", "5", "--set", "C=8", "--json", str(tmp_path / "s.json")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "s.json").read_text())["rows"][0]["channels"] == 8
    assert api.sweep(V2, cells=5, overrides={"C": 8}).rows[0]["channels"] == 8
    # a config key needs --train
    r = runner.invoke(app, ["sweep", str(V2), "--cells", "5", "--set", "trainer.epochs=1"])
    assert r.exit_code == 1 and "only applies when training (--train)" in r.output


def test_outputs_never_replace_something_that_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(ConfigError) as e:
        api.sweep(V2, cells=5, csv=tmp_path / "dir.csv")
    assert e.value.key == "--csv" and "not a regular file" in e.value.message
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ConfigError) as e:
        api.sweep(V2, cells=5, json=tmp_path / "s.json", plot=tmp_path / "dir.png")
    assert e.value.key == "--plot"
    assert not (tmp_path / "s.json").exists()  # checked before anything is written


def test_unknown_front_axis_is_refused() -> None:
    with pytest.raises(ConfigError) as e:
        api.sweep(V2, cells=5, y="accuracy")  # no training: no accuracy column
    assert e.value.key == "--y" and "macs" in (e.value.hint or "")


def test_pareto_keys_minimise_and_maximise_accuracy() -> None:
    rows = [{"point": 0, "macs": 1, "error": 0.5, "accuracy": 0.5},
            {"point": 1, "macs": 2, "error": 0.3, "accuracy": 0.7},
            {"point": 2, "macs": 3, "error": 0.4, "accuracy": 0.6},
            {"point": 3, "macs": 4, "error": 0.1, "accuracy": 0.9},
            {"point": 4, "macs": None, "error": 0.0, "accuracy": 1.0}]
    assert pareto_keys(rows, "macs", "error") == [0, 1, 3]
    assert pareto_keys(rows, "macs", "accuracy") == [0, 1, 3]


# ---- spaces ------------------------------------------------------------------------------------

def test_a_space_is_swept_as_its_supernet() -> None:
    result = api.sweep(SPACE, cells="5,8", channels=8)
    assert result.kind == "supernet" and {row["kind"] for row in result.rows} == {"supernet"}
    want = api.stats(scale_up(api.load(SPACE), cells=5, channels=8)).cost
    assert result.rows[0]["params"] == want.params and result.rows[0]["macs"] == want.macs
    for kw in ({"latency": True}, {"train": True}):
        with pytest.raises(ValidationError) as e:
            api.sweep(SPACE, cells=5, **kw)  # type: ignore[arg-type]
        assert "is a search space" in e.value.message and e.value.span is not None
    r = runner.invoke(app, ["sweep", str(SPACE), "--cells", "5"])
    assert r.exit_code == 0 and "supernets of the space (every candidate counted)" in r.stdout


# ---- torch-free, latency, training ---------------------------------------------------------------

def test_the_analytic_sweep_does_not_import_torch(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""\
        import sys
        from nasc import api
        r = api.sweep({str(V2)!r}, cells="5,8", nodes="2:3", reductions="1:2", channels=8,
                      csv={str(tmp_path / "s.csv")!r}, json={str(tmp_path / "s.json")!r},
                      plot={str(tmp_path / "s.svg")!r})
        assert len(r.rows) == 8 and all(row["status"] == "ok" for row in r.rows)
        bad = [m for m in ("torch", "nasc.lower", "nasc.train.trainer") if m in sys.modules]
        assert not bad, bad
        """)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s.svg").is_file()


def test_latency_column() -> None:
    result = api.sweep(V2, cells="3", channels="4", overrides={"C": 4}, latency=True, repeat=2, threads=1)
    row = result.rows[0]
    assert "latency_ms" in result.columns and row["latency_ms"] > 0
    assert result.rows[0]["status"] == "ok"


def test_failed_training_jobs_are_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(model: str, config: Any, index: int, **_: Any) -> dict[str, float]:
        if index == 1:
            raise RuntimeError("out of memory (pretend)")
        return {"accuracy": 0.25, "error": 0.75, "train_seconds": 0.0}

    monkeypatch.setattr(sweep_mod, "train_job", broken)
    result = api.sweep(V2, cells="3,4", channels=4, train=True, sets=["search.executor.retries=0"])
    ok, failed = result.rows
    assert ok["status"] == "ok" and ok["accuracy"] == 0.25 and ok["front"] is True
    assert failed["status"] == "failed" and "out of memory (pretend)" in failed["reason"]
    assert failed["params"] > 0 and failed["accuracy"] is None and failed["front"] is False
    assert result.y == "error" and result.front == [0]


@pytest.mark.slow
def test_train_a_tiny_sweep_inline(tmp_path: Path) -> None:
    out = tmp_path / "sweep.json"
    r = runner.invoke(app, ["sweep", str(V2), "--cells", "3,4", "--set", "C=4", "--train",
                            "--executor", "inline", *TINY_TRAIN, "--json", str(out),
                            "--plot", str(tmp_path / "front.svg")])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["y"] == "error" and data["columns"][-5:] == ["accuracy", "error", "train_seconds",
                                                              "front", "reason"]
    for row in data["rows"]:
        assert row["status"] == "ok" and 0 <= row["accuracy"] <= 1
        assert row["error"] == pytest.approx(1 - row["accuracy"])
    assert data["front"] and all(data["rows"][i]["front"] for i in data["front"])
    assert "accuracy" in r.stdout and (tmp_path / "front.svg").is_file()
