"""`nasc stats --train-memory / --fit-memory`: the JSON fields, the text lines, rendered errors."""
from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nasc import api
from nasc.cli.app import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def test_json_has_the_plan_and_the_fitted_batch() -> None:
    src = str(EXAMPLES / "resnet20.nas")
    r = runner.invoke(app, ["stats", src, "--train-memory", "--batch", "32", "--optimizer", "adam",
                            "--fit-memory", "1GB", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    plan = d["train_memory"]
    assert plan == api.train_memory(src, batch=32, optimizer="adam").as_dict()
    assert plan["batch"] == 32 and plan["optimizer_state"] == 2 * plan["weights"]
    assert plan["peak"] > plan["activations"] > 0
    assert d["fit_memory"] == {"budget": "1GB", "batch": api.fit_memory(src, "1GB", optimizer="adam")}


def test_text_output_and_checkpointing_on_a_search_space() -> None:
    src = str(EXAMPLES / "darts_space.nas")
    r = runner.invoke(app, ["stats", src, "--set", "layers=5", "--train-memory", "--checkpointing",
                            "--fit-memory", "16GB"])
    assert r.exit_code == 0, r.output
    assert "training step (batch 64, sgd, checkpointing per cell): peak" in r.output
    assert "largest batch within 16GB:" in r.output
    lean = api.train_memory(src, ["layers=5"], batch=64, checkpointing=True).peak
    assert lean < api.train_memory(src, ["layers=5"], batch=64).peak


def test_bad_budget_and_optimizer_are_rendered_errors() -> None:
    src = str(EXAMPLES / "resnet20.nas")
    r = runner.invoke(app, ["stats", src, "--fit-memory", "plenty"])
    assert r.exit_code != 0 and "not a memory size" in r.output and "--fit-memory" in r.output
    r = runner.invoke(app, ["stats", src, "--train-memory", "--optimizer", "lion"])
    assert r.exit_code != 0 and "unknown optimizer `lion`" in r.output
