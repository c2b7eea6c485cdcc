"""`nasc plugins`: ops, passes, search algorithms and datasets with where each comes from."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from nasc.cli.app import app

runner = CliRunner()


def test_lists_every_kind_with_its_origin() -> None:
    r = runner.invoke(app, ["plugins"])
    assert r.exit_code == 0, r.output
    for heading in ("ops (", "passes (", "search algorithms (", "datasets ("):
        assert heading in r.output
    lines = [ln.split() for ln in r.output.splitlines() if ln.startswith("  ")]
    assert ["conv", "built-in"] in lines and ["sep_conv_3x3", "stdlib:std.nas"] in lines
    assert ["aux-towers", "built-in"] in lines and ["darts", "built-in"] in lines
    assert ["builtin", "built-in"] in lines


def test_kind_filter_and_json() -> None:
    r = runner.invoke(app, ["plugins", "--kind", "search", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert {row["kind"] for row in rows} == {"search"}
    assert {"darts", "random"} <= {row["name"] for row in rows}
    assert set(rows[0]) == {"kind", "name", "origin", "target", "error"}
    r = runner.invoke(app, ["plugins", "--kind", "pass"])
    assert r.exit_code == 0 and r.output.startswith("passes (") and "ops (" not in r.output


def test_unknown_kind_is_a_config_error() -> None:
    r = runner.invoke(app, ["plugins", "--kind", "model"])
    assert r.exit_code == 1
    assert "--kind: config error: unknown kind `model`" in r.output and "Traceback" not in r.output
