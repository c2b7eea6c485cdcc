"""Pictures of a run's measurements: training curves, mixing-weight heatmaps (one frame per epoch,
and an animated GIF of them), and curves of several runs as a mean line with a std envelope.

    from nasc.export.run_plots import plot_curves, render_mixing, write_gif, plot_envelope
    plot_curves({"darts": rows}, "curves.png", title="DARTS search")         # loss and top-1
    png = render_mixing("normal", labels, ops, matrix, epoch=3, epochs=50)   # bytes of one frame
    write_gif([png0, png1, png2], "normal.gif")                             # frames -> animation
    plot_envelope([EnvelopePanel("val_top1", ...)], "curves.png")           # mean +- std of runs

This module only draws plain data (metric rows, matrices of numbers): reading a run directory is
`nasc.search.pictures`' job. matplotlib is imported when a picture is drawn (Agg canvas, no pyplot
state); every file is rendered to bytes and written through `nasc.atomic`.
"""
from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasc.atomic import atomic_write_bytes
from nasc.errors import ExportError
from nasc.export.plots import FORMATS

#: colour per split, the same in every picture (train blue, held-out orange, test green)
SPLIT_COLORS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}
SPLIT_NAMES = {"train": "train", "val": "held-out (val)", "test": "test"}
#: the two panels of a curve picture: metric suffix -> (axis label, scale to display units)
PANELS = {"loss": ("cross-entropy loss (nats)", 1.0), "top1": ("top-1 accuracy (%)", 100.0)}


# ------------------------------------------------------------------------------ plumbing

def _figure(width: float, height: float, dpi: int = 100, layout: str | None = "constrained") -> Any:
    """A Figure on its own Agg canvas (no pyplot: no global state, safe in any thread)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _kind(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    target = Path(path)
    kind = fmt or FORMATS.get(target.suffix.lower())
    if kind not in FORMATS.values():
        raise ExportError(f"cannot draw a picture as `{fmt or target.suffix or target.name}`",
                          hint="name the file .png, .svg or .pdf")
    return kind


def figure_bytes(fig: Any, kind: str) -> bytes:
    """The figure rendered as `kind` (png | svg | pdf); SVG ids are fixed and no date is stored,
    so the same data draws the same file."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "nasc"}):
        fig.savefig(buf, format=kind, metadata={"Date": None} if kind in ("svg", "pdf") else None)
    return buf.getvalue()


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write a rendered picture atomically; an OS failure becomes an `ExportError`."""
    target = Path(path)
    if os.path.lexists(target) and not target.is_file():  # a replace would swap out a folder
        raise ExportError(f"cannot write {target}: it exists and is not a regular file")
    try:
        return atomic_write_bytes(target, data)
    except OSError as e:
        raise ExportError(f"cannot write {target}: {e.strerror or e}") from None


def save_figure(fig: Any, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Render `fig` in the format of `path`'s suffix (or `fmt`) and write it atomically."""
    return write_bytes(path, figure_bytes(fig, _kind(path, fmt)))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


# ------------------------------------------------------------------------------ training curves

def loop_group(loop: str) -> str:
    """The family of a training loop: its name with every number replaced by `*`
    (`random/3/train` -> `random/*/train`), so a search's trials share one panel."""
    return re.sub(r"\d+", "*", loop)


def _group_title(group: str, n: int) -> str:
    """A readable panel title for a loop family of `n` loops."""
    known = {"random/*/train": "random-search trials", "petridish/train-*/train": "Petridish training jobs",
             "petridish/search-*/search": "Petridish growth (search) jobs"}
    if group in known:
        return f"{known[group]} ({n})"
    return f"{group} ({n} loops)" if n > 1 else group


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of metric `key` in `rows` (epochs 1-based; rows without it skipped)."""
    xs, ys = [], []
    for i, r in enumerate(rows):
        v = _number(r.get(key))
        if v is not None:
            e = _number(r.get("epoch"))
            xs.append((e if e is not None else i) + 1)
            ys.append(v)
    return xs, ys


def plot_curves(loops: Mapping[str, Sequence[Mapping[str, Any]]], path: str | os.PathLike[str], *,
                title: str | None = None, final_points: Mapping[str, Mapping[str, float]] | None = None,
                fmt: str | None = None) -> Path:
    """Loss and top-1 against epoch, train against held-out (`val_*`) and `test_*`, from the
    metric rows of each training loop (`loops`: loop name -> its `metrics.jsonl` rows in order).

    Loops of one family (`loop_group`: the trials of a random search, Petridish's jobs) share a
    row of panels: each loop a faint line, their mean per epoch a bold one. `final_points`
    (loop -> {"val_top1": x, ...}) marks figures measured once after a loop's last epoch (a
    trial's held-out accuracy) as dots. Raises `ExportError` when no loop has a figure to draw.
    """
    from matplotlib.lines import Line2D

    groups: dict[str, list[str]] = {}
    for loop, rows in loops.items():
        if rows:
            groups.setdefault(loop_group(loop), []).append(loop)
    if not groups:
        raise ExportError("no training metrics to draw", hint="metrics.jsonl has no rows yet")
    fig = _figure(11.0, 0.6 + 3.4 * len(groups))
    axes = fig.subplots(len(groups), 2, squeeze=False)
    marks = final_points or {}
    for (group, members), row_axes in zip(groups.items(), axes):
        many = len(members) > 1
        longest = max(len(loops[m]) for m in members)
        for (suffix, (label, scale)), ax in zip(PANELS.items(), row_axes):
            handles = []
            for split, color in SPLIT_COLORS.items():
                key = f"{split}_{suffix}"
                curves = [_series(loops[m], key) for m in members]
                curves = [(x, [scale * v for v in y]) for x, y in curves if x]
                # a figure measured after training sits at the loop's last epoch
                dots = [(_last_epoch(loops[m]), scale * marks[m][key])
                        for m in members if key in marks.get(m, {})]
                if not curves and not dots:
                    continue
                style = "-" if split == "train" else "--"
                marker = "o" if longest <= 12 else None
                for x, y in curves:
                    ax.plot(x, y, style, color=color, alpha=0.3 if many else 1.0,
                            linewidth=0.9 if many else 1.8, marker=marker, markersize=3 if many else 4)
                if many and curves:
                    mx, my = _mean_by_x(curves)
                    ax.plot(mx, my, style, color=color, linewidth=2.4, marker=marker, markersize=5)
                if dots:
                    dx, dy = zip(*dots)
                    ax.scatter(dx, dy, s=28, color=color, edgecolor="black", linewidth=0.6, zorder=4)
                name = SPLIT_NAMES[split] + ("" if curves or not dots else " (after training)")
                handles.append(Line2D([], [], linestyle=style if curves else "none", color=color,
                                      linewidth=2.0, marker="o" if dots and not curves else marker,
                                      markersize=5, label=name))
            if many:
                handles.append(Line2D([], [], color="#555555", linewidth=0.9, alpha=0.4,
                                      label=f"faint: each of {len(members)}; bold: mean"))
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
            ax.set_title(f"{_group_title(group, len(members))}: {label.split(' (')[0]}", fontsize=10)
            ax.grid(True, linestyle=":", linewidth=0.6, alpha=0.7)
            ax.xaxis.get_major_locator().set_params(integer=True)
            last = max(_last_epoch(loops[m]) for m in members)
            if last <= 12:  # whole epochs only, and a one-epoch loop centred instead of at 0.96..1.04
                ax.set_xlim(0.7, last + 0.3)
                ax.set_xticks(range(1, int(last) + 1))
            if suffix == "top1":
                ax.set_ylim(-2, 102)
            if handles:
                ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.9)
            else:
                ax.text(0.5, 0.5, f"no {label.split(' (')[0]} recorded", ha="center", va="center",
                        transform=ax.transAxes, color="#777777")
    if title:
        fig.suptitle(title, fontsize=12)
    return save_figure(fig, path, fmt)


def _last_epoch(rows: Sequence[Mapping[str, Any]]) -> float:
    """The 1-based epoch of a loop's last row."""
    e = _number(rows[-1].get("epoch")) if rows else None
    return (e if e is not None else len(rows) - 1) + 1


def _mean_by_x(curves: Sequence[tuple[Sequence[float], Sequence[float]]]) -> tuple[list[float], list[float]]:
    """The mean of several (x, y) curves at every x that at least two of them have."""
    by_x: dict[float, list[float]] = {}
    for xs, ys in curves:
        for x, y in zip(xs, ys):
            by_x.setdefault(x, []).append(y)
    pts = sorted((x, sum(v) / len(v)) for x, v in by_x.items() if len(v) >= 2)
    return [p[0] for p in pts], [p[1] for p in pts]


# ------------------------------------------------------------------------------ mixing weights

def render_mixing(template: str, edge_labels: Sequence[str], ops: Sequence[str],
                  matrix: Sequence[Sequence[float | None]], *, epoch: int, epochs: int,
                  vmin: float, vmax: float, numbers: bool = False, fmt: str = "png") -> bytes:
    """One frame: the mixing weights (softmax of the alphas) of cell template `template`, one row
    per choice edge (`edge_labels`), one column per candidate op (`ops`; `None` where an edge lacks
    that candidate). The colour scale is fixed by the caller (`vmin`, `vmax`: the range over every
    epoch) so the frames of an animation compare. The strongest op other than `none` of each edge
    (what the DARTS rule ranks) is boxed; `numbers` writes each weight in its square.

    The layout is computed from the label lengths, not by a layout engine (several times faster,
    which matters at one frame per epoch and template), so every frame of a template has the same
    size and the same axes position."""
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    n_rows, n_cols = len(edge_labels), len(ops)
    char = 0.075  # inches per character of 8-point tick labels
    left = 0.55 + char * max((len(t) for t in edge_labels), default=4)
    bottom = 0.55 + 0.62 * char * max((len(t) for t in ops), default=4)  # rotated 35 degrees
    top, right = 0.75, 1.25  # title; colour bar and its label
    cell_w, cell_h = (0.62, 0.3) if numbers else (0.5, 0.26)
    width = left + right + max(n_cols * cell_w, 3.0)
    height = bottom + top + max(n_rows * cell_h, 1.5)
    fig = _figure(width, height, dpi=100, layout=None)
    ax = fig.add_axes((left / width, bottom / height, 1 - (left + right) / width,
                       1 - (bottom + top) / height))
    cax = fig.add_axes((1 - (right - 0.15) / width, bottom / height, 0.18 / width,
                        1 - (bottom + top) / height))
    data = [[math.nan if v is None else float(v) for v in row] for row in matrix]
    cmap = colormaps["viridis"].with_extremes(bad="#dddddd")
    hi = vmax if vmax > vmin else vmin + 1e-9
    image = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=hi, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(n_cols), labels=list(ops), rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(n_rows), labels=list(edge_labels), fontsize=8)
    ax.set_xlabel("candidate op", fontsize=9)
    ax.set_ylabel("choice edge (node.edge <- input)", fontsize=9)
    # enough decimals that neighbouring weights differ (early in a search they are all ~1/n)
    digits = min(4, max(2, 1 - math.floor(math.log10(hi - vmin)))) if hi > vmin else 3
    for i, row in enumerate(data):
        best = max((j for j, v in enumerate(row) if not math.isnan(v) and ops[j] != "none"),
                   key=lambda j: row[j], default=None)
        if best is not None:
            ax.add_patch(Rectangle((best - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#d62728",
                                   linewidth=1.8))
        if numbers:
            for j, v in enumerate(row):
                if not math.isnan(v):
                    light = (v - vmin) / (hi - vmin) > 0.6
                    ax.text(j, i, f"{v:.{digits}f}", ha="center", va="center", fontsize=6.5,
                            color="black" if light else "white")
    bar = fig.colorbar(image, cax=cax)
    bar.set_label("mixing weight softmax(alpha)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    ax.set_title(f"cell `{template}`: mixing weights after epoch {epoch} of {epochs}\n"
                 f"red box: each edge's strongest op other than none", fontsize=9.5)
    return figure_bytes(fig, fmt)


def write_gif(frames: Sequence[bytes], path: str | os.PathLike[str], *, duration_ms: int = 700,
              last_ms: int = 2000) -> Path:
    """An animated GIF of PNG `frames` (looping; the last frame held longer). Frames of different
    sizes are centred on a white canvas of the largest size (graphviz pictures grow as a cell
    changes)."""
    from PIL import Image

    if not frames:
        raise ExportError("no frames to animate")
    images = [Image.open(io.BytesIO(f)).convert("RGB") for f in frames]
    width, height = max(i.width for i in images), max(i.height for i in images)
    canvas = []
    for im in images:
        page = Image.new("RGB", (width, height), "white")
        page.paste(im, ((width - im.width) // 2, (height - im.height) // 2))
        # one adaptive palette per frame: heatmaps keep their colour steps
        canvas.append(page.quantize(colors=255, method=Image.Quantize.MEDIANCUT))
    durations = [duration_ms] * (len(canvas) - 1) + [last_ms]
    buf = io.BytesIO()
    canvas[0].save(buf, format="GIF", save_all=True, append_images=canvas[1:], loop=0,
                   duration=durations, disposal=1, optimize=False)
    return write_bytes(path, buf.getvalue())


# ------------------------------------------------------------------------------ several runs

@dataclass
class EnvelopePanel:
    """One panel of `plot_envelope`: a metric against epoch for groups of runs.

    `groups` maps a group name (an algorithm) to its runs' series, each `{epoch: value}` (epochs
    1-based); values are multiplied by `scale` for display.
    """

    label: str
    groups: dict[str, list[dict[int, float]]] = field(default_factory=dict)
    scale: float = 1.0
    limits: tuple[float, float] | None = None


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; 0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def plot_envelope(panels: Sequence[EnvelopePanel], path: str | os.PathLike[str], *,
                  title: str | None = None, fmt: str | None = None) -> Path:
    """Each panel: per group, every run as a faint line, the mean over runs per epoch as a bold
    line and mean +- one sample std as a shaded band. Raises `ExportError` when nothing is drawn."""
    from matplotlib.patches import Patch

    panels = [p for p in panels if any(any(s) for s in p.groups.values())]
    if not panels:
        raise ExportError("no per-epoch figures to draw", hint="the runs have no metrics.jsonl rows "
                                                               "of a main training loop")
    fig = _figure(5.6 * len(panels), 4.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    from nasc.export.plots import _colors

    names = sorted({g for p in panels for g in p.groups})
    colors = dict(zip(names, _colors(len(names))))
    for panel, ax in zip(panels, axes):
        handles: list[Any] = []
        last = 0
        for group, runs in sorted(panel.groups.items()):
            runs = [r for r in runs if r]
            if not runs:
                continue
            color = colors[group]
            for r in runs:
                xs = sorted(r)
                ax.plot(xs, [panel.scale * r[x] for x in xs], color=color, alpha=0.25, linewidth=0.9)
            epochs = sorted({x for r in runs for x in r})
            stats = [mean_std([r[x] for r in runs if x in r]) for x in epochs]
            mean = [panel.scale * m for m, _ in stats]
            low = [panel.scale * (m - s) for m, s in stats]
            high = [panel.scale * (m + s) for m, s in stats]
            marker = "o" if len(epochs) <= 12 else None
            several = len(runs) > 1
            line, = ax.plot(epochs, mean, color=color, linewidth=2.2, marker=marker, markersize=4,
                            label=f"{group}: mean of {len(runs)} runs" if several else f"{group}: 1 run")
            handles.append(line)
            if several:  # one run has no spread to show
                ax.fill_between(epochs, low, high, color=color, alpha=0.2, linewidth=0)
                handles.append(Patch(color=color, alpha=0.2, label=f"{group}: mean \u00b1 1 std"))
            last = max(last, epochs[-1])
        ax.set_xlabel("epoch")
        ax.set_ylabel(panel.label)
        ax.set_title(panel.label.split(" (")[0], fontsize=10)
        ax.grid(True, linestyle=":", linewidth=0.6, alpha=0.7)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if panel.limits is not None:
            ax.set_ylim(*panel.limits)
        if last <= 12:
            ax.set_xlim(0.7, last + 0.3)
            ax.set_xticks(range(1, int(last) + 1))
        ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.9)
    if title:
        fig.suptitle(title, fontsize=12)
    return save_figure(fig, path, fmt)
