"""`nasc stats`: table, JSON, per-cell rows, overrides, rendered errors, and no torch import."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from nasc.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
runner = CliRunner()


def test_json_has_exact_integer_totals() -> None:
    r = runner.invoke(app, ["stats", str(EXAMPLES / "darts_v2_cifar.nas"), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["model"] == "darts_v2_cifar"
    assert d["params"] == 3_349_342 and d["params_with_aux"] == 3_825_768
    assert d["macs"] == 528_359_040 and d["macs_with_aux"] == 529_054_848
    assert isinstance(d["activation_bytes"], int) and d["activation_bytes"] > 0
    assert len(d["cells"]) == 20 and d["cells"][6]["reduction"] is True
    assert d["cells"][19]["out_shape"] == [576, 8, 8]


def test_overrides_change_the_network() -> None:
    r = runner.invoke(app, ["stats", str(EXAMPLES / "darts_space.nas"), "--json", "--set", "layers=5",
                            "--set", "C=8"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert len(d["cells"]) == 5 and d["params"] == 394_210  # the reference search network (8, 10, 5)


def test_table_totals_and_per_cell_rows() -> None:
    r = runner.invoke(app, ["stats", str(EXAMPLES / "darts_v2_cifar.nas")])
    assert r.exit_code == 0, r.output
    assert "3,349,342" in r.stdout and "528,359,040" in r.stdout and "3,825,768" in r.stdout
    assert "reduction cells (2)" in r.stdout and "cell 13 reduce" not in r.stdout
    assert "params 3.35M, MACs 528.36M" in r.stdout
    r = runner.invoke(app, ["stats", str(EXAMPLES / "darts_v2_cifar.nas"), "--per-cell"])
    assert r.exit_code == 0, r.output
    assert "cell 13 reduce" in r.stdout and "cell 19 normal" in r.stdout and "576x8x8" in r.stdout


def test_shape_error_is_rendered_with_line_and_caret(tmp_path: Path) -> None:
    src = (EXAMPLES / "darts_v2_cifar.nas").read_text()
    bad = src.replace("n2 = sep_conv_3x3(s1) + skip_connect(s0)", "n2 = sep_conv_3x3(s1) + conv_bn(s0, stride=2)")
    assert bad != src
    f = tmp_path / "bad.nas"
    f.write_text(bad)
    line = next(i for i, t in enumerate(bad.splitlines(), 1) if "conv_bn(s0" in t)
    col = bad.splitlines()[line - 1].index("conv_bn") + 1
    r = runner.invoke(app, ["stats", str(f)])
    assert r.exit_code == 1
    assert r.stdout == ""
    assert (f"{f}:{line}:{col}: shape error: normal.n2.e1 (cells.0, +5 more): sum node n2 expects "
            "(36, 32, 32) (the shape of normal.n2.e0) but `conv_bn(s0)` gives (36, 16, 16)") in r.stderr
    # the offending source line is quoted with a caret under the edge (layout: nasc.cli.render)
    quoted = bad.splitlines()[line - 1]
    caret_line = next(t for t in r.stderr.splitlines() if t.rstrip().endswith("~") or t.rstrip().endswith("^"))
    assert quoted in r.stderr
    assert caret_line.index("^") - r.stderr.splitlines()[1].index(quoted) == col - 1
    assert "Traceback" not in r.output


def test_unknown_override_and_missing_file_exit_1(tmp_path: Path) -> None:
    r = runner.invoke(app, ["stats", str(EXAMPLES / "darts_v2_cifar.nas"), "--set", "Cx=3"])
    assert r.exit_code == 1 and "unknown param `Cx`" in r.stderr and "did you mean `C`?" in r.stderr
    r = runner.invoke(app, ["stats", str(tmp_path / "nope.nas")])
    assert r.exit_code == 1 and "Traceback" not in r.output


def test_stats_does_not_import_torch() -> None:
    code = ("import sys, json, contextlib, io\n"
            "from nasc.cli.app import app\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            "    try:\n"
            f"        app(['stats', {str(EXAMPLES / 'darts_v2_cifar.nas')!r}, '--json'])\n"
            "    except SystemExit as e:\n"
            "        assert not e.code, e.code\n"
            "assert json.loads(buf.getvalue())['params'] == 3349342\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert r.returncode == 0, r.stderr


def test_latency_is_measured_on_request() -> None:
    r = runner.invoke(app, ["stats", str(EXAMPLES / "resnet20.nas"), "--json", "--latency",
                            "--repeat", "3", "--batch", "2", "--threads", "1"])
    assert r.exit_code == 0, r.output
    lat = json.loads(r.stdout)["latency"]
    assert (lat["batch_size"], lat["device"], lat["threads"], lat["repeat"], lat["warmup"]) == (2, "cpu", 1, 3, 3)
    assert 0 < lat["min_ms"] <= lat["median_ms"] <= lat["p90_ms"]
    r = runner.invoke(app, ["stats", str(EXAMPLES / "resnet20.nas"), "--latency", "--repeat", "2"])
    assert r.exit_code == 0 and "latency: median " in r.stdout and "(batch 1, cpu," in r.stdout


def test_latency_of_a_search_space_is_refused_with_a_hint() -> None:
    r = runner.invoke(app, ["stats", str(EXAMPLES / "darts_space.nas"), "--latency"])
    assert r.exit_code == 1
    assert "is a search space: latency is measured on a discrete network" in r.stderr
    assert "darts_space.nas:" in r.stderr and "hint: derive one first" in r.stderr
