"""Graphviz pictures: one cluster per cell template with its inputs, nodes and op-labelled edges
(choices listed), the macro network, the output formats, and `nasc viz` on the command line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasc.analysis.elaborate import elaborate
from nasc.cli.app import app
from nasc.errors import ExportError
from nasc.export.viz import model_graph, render_bytes, write_picture
from nasc.frontend import load_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def test_cell_clusters_and_edge_labels() -> None:
    model = load_model(EXAMPLES / "darts_v2_cifar.nas")
    src = model_graph(model).source
    assert "subgraph cluster_cell_normal" in src and "subgraph cluster_cell_reduce" in src
    assert '"normal/s0" [label="s0\npreprocess"' in src
    assert '"normal/n3" -> "normal/out"' in src
    assert '"normal/n0" -> "normal/n3" [label="e1: dil_conv_3x3"' in src
    assert '"reduce/n0" -> "reduce/n1" [label="e0: skip_connect"' in src
    assert "cluster_network" not in src  # no macro picture without the elaborated network


def test_choices_are_listed() -> None:
    space = load_model(EXAMPLES / "darts_space.nas")
    src = model_graph(space).source
    assert '"normal/s1" -> "normal/n3" [label="e1: darts"' in src and "style=dashed" in src
    assert "choice darts:\\l  none\\l  max_pool_3x3\\l" in src and "dil_conv_5x5\\l" in src
    assert '"normal/n3" [label="n3\nsum keep 2"' in src


def test_macro_picture() -> None:
    model = load_model(EXAMPLES / "darts_v2_cifar.nas", overrides={"layers": 5})
    src = model_graph(model, elaborate(model)).source
    assert "subgraph cluster_network" in src
    assert '"net/stems.0" [label="stems.0: cifar_stem(C_out=C * 3)\n108x32x32"' in src
    assert '"net/cells.1" [label="cells.1: reduce\n288x16x16"' in src and "fillcolor=lightsalmon" in src
    assert '"net/cells.0" -> "net/cells.2" [label=s0' in src
    assert '"net/cells.4" -> "net/head"' in src
    assert '"net/cells.3" -> "net/aux" [style=dashed]' in src


@pytest.mark.parametrize("fmt,magic", [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_formats(tmp_path: Path, fmt: str, magic: bytes) -> None:
    model = load_model(EXAMPLES / "darts_v2_cifar.nas")
    out = write_picture(model, tmp_path / f"cell.{fmt}", network=elaborate(model))
    assert out.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [f"cell.{fmt}"]


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    model = load_model(EXAMPLES / "darts_v2_cifar.nas")
    with pytest.raises(ExportError, match="unknown picture format `jpg`"):
        write_picture(model, tmp_path / "cell.jpg")
    with pytest.raises(ExportError, match="unknown picture format `gif`"):
        render_bytes(model_graph(model), "gif")
    assert list(tmp_path.iterdir()) == []


def test_cli_viz(tmp_path: Path) -> None:
    out = tmp_path / "cells.svg"
    res = runner.invoke(app, ["viz", str(EXAMPLES / "darts_space.nas"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == f"wrote {out} (2 cell template(s), 8 cells)"
    svg = out.read_text()
    assert "cell normal" in svg and "network darts_space" in svg and "sep_conv_3x3" in svg
    res = runner.invoke(app, ["viz", str(EXAMPLES / "resnet20.nas"), "-o", str(tmp_path / "r.png"),
                              "--format", "png", "--set", "blocks=3"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG")
    res = runner.invoke(app, ["viz", str(EXAMPLES / "darts_space.nas"), "-o", str(tmp_path / "x.svg"), "--format", "bmp"])
    assert res.exit_code == 1 and "export error: unknown picture format `bmp`" in res.stderr


def test_viz_does_not_import_torch(tmp_path: Path) -> None:
    code = (f"import sys; from nasc.cli.app import app; "
            f"app(['viz', {str(EXAMPLES / 'darts_v2_cifar.nas')!r}, '-o', {str(tmp_path / 'c.svg')!r}], "
            f"standalone_mode=False); assert 'torch' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "c.svg").exists()
