"""Pictures of measured networks: every point on two axes, a highlighted subset (a Pareto front or
hull) connected in order, optional arrows between points (parent -> child), as PNG, SVG or PDF.

    from nasc.export.plots import plot_front
    plot_front(rows, "macs", "params", "front.png", key="point", front_keys=[0, 3, 7])
    plot_front(pool, "macs", "error", "pool.svg", key="model", front_keys=hull,
               arrows=[("m0", "m3"), ("m3", "m7")], color_by="round")

`rows` are plain mappings (the rows of `nasc sweep`, a search's model pool); a row without a
number in `x` or `y` (a skipped or failed one) is left out. The caller decides which keys form the
front (`nasc.search.pareto` computes it): this module only draws. matplotlib is imported when a
picture is drawn (Agg canvas, no pyplot state), so importing this module is cheap; the file is
written through `nasc.atomic`.
"""
from __future__ import annotations

import io
import math
import os
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nasc.atomic import atomic_write_bytes
from nasc.errors import ExportError

#: picture formats by file suffix
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

#: axis names and units of the columns nasc writes (anything else is shown by its column name)
LABELS: dict[str, str] = {
    "macs": "multiply-adds per image", "params": "parameters", "params_with_aux": "parameters (with aux)",
    "activation_bytes": "activation memory", "latency_ms": "batch-1 latency", "error": "error (1 - top-1)",
    "accuracy": "top-1 accuracy", "val_top1": "held-out top-1", "cells": "cells", "channels": "initial width",
    "nodes": "nodes per cell", "reductions": "reduction cells",
}
UNITS: dict[str, str] = {
    "macs": "MACs", "params": "count", "params_with_aux": "count", "activation_bytes": "bytes, float32",
    "latency_ms": "ms", "channels": "channels",
}


def axis_label(column: str, labels: Mapping[str, str] | None = None,
               units: Mapping[str, str] | None = None) -> str:
    """`label (unit)` of a column: the caller's names first, then nasc's, then the column name."""
    label = (labels or {}).get(column) or LABELS.get(column) or column
    unit = (units or {}).get(column, UNITS.get(column))
    return f"{label} ({unit})" if unit else label


def _number(value: Any) -> float | None:
    """`value` as a finite float, or None (missing, text, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def plot_front(rows: Sequence[Mapping[str, Any]], x: str, y: str, path: str | os.PathLike[str], *,
               key: str = "point", front_keys: Iterable[Hashable] | None = None,
               arrows: Sequence[tuple[Hashable, Hashable]] = (), title: str | None = None,
               labels: Mapping[str, str] | None = None, units: Mapping[str, str] | None = None,
               annotate: Mapping[Hashable, str] | None = None, color_by: str | None = None,
               log_x: bool = False, log_y: bool = False, points_label: str = "networks",
               front_label: str = "Pareto front", arrows_label: str | None = None,
               fmt: str | None = None) -> Path:
    """Draw every row as a point of `x` against `y` and write the picture to `path`.

    `front_keys` (values of the `key` column) are highlighted and joined in order of `x`;
    `arrows` join `(from_key, to_key)` pairs; `annotate` labels points by key; `color_by` colours
    the points by the values of a column (one legend entry each). Axis labels come from `labels`
    and `units` (then nasc's names for its own columns). The format is `fmt` or the suffix
    (png | svg | pdf). Raises `ExportError` for an unknown format or when no row has both figures.
    """
    target = Path(path)
    kind = fmt or FORMATS.get(target.suffix.lower())
    if kind not in FORMATS.values():
        raise ExportError(f"cannot draw a picture as `{fmt or target.suffix or target.name}`",
                          key="--plot", hint="name the file .png, .svg or .pdf")
    if os.path.lexists(target) and not target.is_file():  # a replace would swap out a folder or device
        raise ExportError(f"cannot write {target}: it exists and is not a regular file", key="--plot")
    points: dict[Hashable, tuple[float, float, Mapping[str, Any]]] = {}
    for r in rows:
        vx, vy = _number(r.get(x)), _number(r.get(y))
        if vx is not None and vy is not None and (not log_x or vx > 0) and (not log_y or vy > 0):
            points[r.get(key, len(points))] = (vx, vy, r)
    if not points:
        raise ExportError(f"no row has both `{x}` and `{y}` to draw", key="--plot",
                          hint="every point was skipped or failed; see the table's reasons")

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import EngFormatter, LogLocator

    fig = Figure(figsize=(7.5, 5.0), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if color_by is None:
        xs, ys = zip(*((p[0], p[1]) for p in points.values()))
        ax.scatter(xs, ys, s=22, color="#7f8c9a", alpha=0.75, label=f"{points_label} ({len(points)})",
                   zorder=2)
    else:
        groups: dict[Any, list[tuple[float, float]]] = {}
        for vx, vy, r in points.values():
            groups.setdefault(r.get(color_by), []).append((vx, vy))
        cmap = _colors(len(groups))
        for i, (value, pts) in enumerate(sorted(groups.items(), key=lambda kv: _sort_key(kv[0]))):
            gx, gy = zip(*pts)
            ax.scatter(gx, gy, s=22, color=cmap[i], alpha=0.8, zorder=2,
                       label=f"{LABELS.get(color_by, color_by)} = {value} ({len(pts)})")
    front = [points[k] for k in (front_keys or ()) if k in points]
    if front:
        front.sort(key=lambda p: (p[0], p[1]))
        fx, fy = [p[0] for p in front], [p[1] for p in front]
        ax.plot(fx, fy, color="#d62728", linewidth=1.6, marker="o", markersize=7, markerfacecolor="white",
                markeredgewidth=1.8, zorder=4, label=f"{front_label} ({len(front)})")
    drawn = 0
    for a, b in arrows:
        if a in points and b in points:
            ax.annotate("", xy=points[b][:2], xytext=points[a][:2], zorder=3,
                        arrowprops={"arrowstyle": "->", "color": "#1f77b4", "alpha": 0.6, "linewidth": 1.0,
                                    "shrinkA": 4, "shrinkB": 4})
            drawn += 1
    labelled = sorted((points[k][:2], text) for k, text in (annotate or {}).items() if k in points)
    for i, (xy, text) in enumerate(labelled):
        # alternate above-left / below-right so labels of neighbouring points do not collide
        offset, align = ((6, 6), "left") if i % 2 == 0 else ((6, -11), "left")
        ax.annotate(text, xy, xytext=offset, textcoords="offset points", fontsize=7, ha=align,
                    color="#333333", zorder=5)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    for axis, log in ((ax.xaxis, log_x), (ax.yaxis, log_y)):
        values = [p[0] if axis is ax.xaxis else p[1] for p in points.values()]
        if max(abs(v) for v in values) >= 1e4:  # 3.3M reads better than 3300000 or 3.3e6
            axis.set_major_formatter(EngFormatter(sep=""))
            if log:  # label 2x and 5x between the decades, no more (they would collide)
                axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
                axis.set_minor_formatter(EngFormatter(sep=""))
                axis.set_tick_params(which="minor", labelsize=7)
    ax.set_xlabel(axis_label(x, labels, units))
    ax.set_ylabel(axis_label(y, labels, units))
    ax.grid(True, linestyle=":", linewidth=0.6, alpha=0.7)
    if title:
        ax.set_title(title, fontsize=11)
    handles, names = ax.get_legend_handles_labels()
    if drawn:
        handles.append(Line2D([], [], color="#1f77b4", alpha=0.6, marker=">", markersize=5))
        names.append(arrows_label or f"parent -> child ({drawn})")
    ax.legend(handles, names, fontsize=8, loc="best", framealpha=0.9)

    import matplotlib

    buf = io.BytesIO()
    # fixed ids and no date, so the same rows draw the same SVG
    with matplotlib.rc_context({"svg.hashsalt": "nasc"}):
        fig.savefig(buf, format=kind, metadata={"Date": None} if kind in ("svg", "pdf") else None)
    try:
        return atomic_write_bytes(target, buf.getvalue())
    except OSError as e:
        raise ExportError(f"cannot write {target}: {e.strerror or e}", key="--plot") from None


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers in numeric order, then everything else by its text."""
    n = _number(value)
    return (0, n) if n is not None else (1, str(value))


def _colors(n: int) -> list[Any]:
    """`n` distinguishable colours: tab10 for few groups, viridis steps for many."""
    from matplotlib import colormaps

    if n <= 10:
        tab = colormaps["tab10"]
        return [tab(i) for i in range(n)]
    ramp = colormaps["viridis"]
    return [ramp(i / max(n - 1, 1)) for i in range(n)]
