"""`plot_front`: points, a highlighted front, arrows, labels; PNG/SVG by suffix; clear errors."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

from nasc.errors import ExportError
from nasc.export.plots import axis_label, plot_front

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROWS = [
    {"point": 0, "macs": 1_000_000, "params": 50_000, "error": 0.30, "cells": 3},
    {"point": 1, "macs": 2_000_000, "params": 90_000, "error": 0.22, "cells": 5},
    {"point": 2, "macs": 3_000_000, "params": 80_000, "error": 0.25, "cells": 5},
    {"point": 3, "macs": 4_000_000, "params": 200_000, "error": 0.18, "cells": 8},
    {"point": 4, "macs": None, "params": None, "error": None, "cells": 8},  # a skipped point
]


def _svg(tmp_path: Path, **kw: object) -> str:
    """Draw to SVG with text kept as text (so the test can read labels)."""
    path = tmp_path / "p.svg"
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        plot_front(ROWS, "macs", "error", path, **kw)  # type: ignore[arg-type]
    return path.read_text()


def test_png_by_suffix_is_a_readable_image(tmp_path: Path) -> None:
    from matplotlib.image import imread

    out = plot_front(ROWS, "macs", "params", tmp_path / "sub" / "front.png", front_keys=[0, 2])
    assert out == tmp_path / "sub" / "front.png"
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC)
    height, width, _ = imread(out).shape
    assert width > 600 and height > 400
    assert [p.name for p in out.parent.iterdir()] == ["front.png"]  # no temporary file left


def test_front_arrows_labels_and_legend(tmp_path: Path) -> None:
    text = _svg(tmp_path, front_keys=[3, 0, 1, 99], arrows=[(0, 1), (1, 3), (0, 4), (7, 8)],
                annotate={1: "c5 C16"}, title="a title")
    assert "networks (4)" in text  # the skipped row is not drawn
    assert "Pareto front (3)" in text  # unknown keys are ignored
    assert "parent -&gt; child (2)" in text  # arrows to rows without figures are not drawn
    assert "multiply-adds per image (MACs)" in text and "error (1 - top-1)" in text
    assert "c5 C16" in text and "a title" in text
    assert "1M" in text  # engineering tick labels for large counts


def test_colour_groups_and_custom_axis_names(tmp_path: Path) -> None:
    text = _svg(tmp_path, color_by="cells", labels={"macs": "cost"}, units={"macs": "flops / 2"},
                points_label="models")
    assert "cells = 3 (1)" in text and "cells = 5 (2)" in text and "cells = 8 (1)" in text
    assert "cost (flops / 2)" in text
    assert axis_label("params") == "parameters (count)"
    assert axis_label("mystery") == "mystery"
    assert axis_label("latency_ms", units={"latency_ms": ""}) == "batch-1 latency"


def test_svg_is_deterministic(tmp_path: Path) -> None:
    a = plot_front(ROWS, "macs", "error", tmp_path / "a.svg", front_keys=[0, 1]).read_bytes()
    b = plot_front(ROWS, "macs", "error", tmp_path / "b.svg", front_keys=[0, 1]).read_bytes()
    assert a == b and a.lstrip().startswith(b"<?xml")


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ExportError) as e:
        plot_front(ROWS, "macs", "params", tmp_path / "front.gif")
    assert e.value.key == "--plot" and ".png, .svg or .pdf" in (e.value.hint or "")
    with pytest.raises(ExportError) as e:
        plot_front(ROWS[-1:], "macs", "params", tmp_path / "front.png")
    assert "no row has both `macs` and `params`" in e.value.message
    assert not (tmp_path / "front.png").exists()


def test_never_replaces_a_folder(tmp_path: Path) -> None:
    (tmp_path / "p.png").mkdir()
    with pytest.raises(ExportError) as e:
        plot_front(ROWS, "macs", "params", tmp_path / "p.png")
    assert "not a regular file" in e.value.message and (tmp_path / "p.png").is_dir()
