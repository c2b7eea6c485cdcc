"""Run pictures: what a run directory's files show, drawn into its `pictures/` folder.

    from nasc.search.pictures import write_run_pictures, pictures_or_note
    made = write_run_pictures("runs/search-darts-...")   # what `nasc plot RUN_DIR` runs
    made.paths, made.skipped                             # files written; what was not drawn and why
    pictures_or_note(run)                                # the end-of-run hook: never raises

From the files alone (so an old or copied run folder draws too):
- `metrics.jsonl` -> `pictures/curves.png|svg`: loss and top-1 against epoch, train against
  held-out / test, every training loop of the run (the trials of a random search and Petridish's
  jobs as faint lines with a bold mean; a trial's held-out top-1 from `trials.jsonl` as a dot);
- `alphas.jsonl` (DARTS, PC-DARTS, GDAS, ...) -> per cell template a heatmap of the mixing weights
  per choice edge and candidate op for every epoch (`pictures/alphas/<cell>_epoch<NNN>.png`), the
  last epoch also as SVG, and the epochs as an animation (`pictures/alphas/<cell>.gif`); and the
  cells derived after each epoch (`pictures/cells/epoch<NNN>.svg|png`, from the row's genotype on
  the run's `space.nas`) with their animation (`pictures/cells/evolution.gif`);
- `trials.jsonl` + `pareto.json` (random search) -> `pictures/front.png|svg`: held-out top-1
  against the search's cost axis, the Pareto front highlighted; Petridish's own `pool.png`
  (error against cost with its hull) is listed as it is.

The search layer owns this (not `nasc.export`) because it reads a space (`nasc.frontend`) and
rebuilds derived cells from genotypes (`nasc.search.genotype`); the drawing itself is
`nasc.export.run_plots` and `nasc.export.plots`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasc.errors import ConfigError, NascError

if TYPE_CHECKING:
    from nasc.ir.model import Model
    from nasc.train.rundir import RunDir

PICTURES = "pictures"
#: files whose presence makes a folder a run directory worth drawing
RUN_FILES = ("config.yaml", "metrics.jsonl", "alphas.jsonl", "trials.jsonl", "provenance.json")


@dataclass
class RunPictures:
    """What `write_run_pictures` drew: the files written (and reused), and what it skipped, why."""

    run_dir: Path
    paths: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The object rows of a JSON-lines file (a torn or foreign line is skipped: a killed run may
    leave half a line); empty when the file does not exist."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def read_json(path: Path) -> Any:
    """A JSON file's content, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def check_run_dir(run_dir: str | Path, *, key: str = "RUN_DIR") -> Path:
    """`run_dir` as a Path; `ConfigError` when it is not a folder a nasc run wrote."""
    root = Path(run_dir)
    if not root.is_dir():
        raise ConfigError(f"`{root}` is not a folder", key=key,
                          hint="pass the run directory a `nasc train` or `nasc search` printed")
    if not any((root / name).is_file() for name in RUN_FILES):
        raise ConfigError(f"`{root}` is not a run directory (none of {', '.join(RUN_FILES)})",
                          key=key, hint="pass the run directory a `nasc train` or `nasc search` printed")
    return root


def metric_loops(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """`metrics.jsonl` rows by training loop (`loop` field; `train` when absent), in order."""
    loops: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        loops.setdefault(str(r.get("loop", "train")), []).append(r)
    return loops


# ------------------------------------------------------------------------------ the entry points

def write_run_pictures(run_dir: str | Path) -> RunPictures:
    """Draw every picture the files of `run_dir` allow into `run_dir/pictures/` (see the module
    docstring). Raises `ConfigError` when `run_dir` is not a run directory and `ExportError`
    when a picture cannot be written; a kind of picture the run has no data for is skipped."""
    root = check_run_dir(run_dir)
    out = RunPictures(root)
    _curves(root, out)
    _alphas(root, out)
    _front(root, out)
    for name in ("pool.png", "pool.svg"):  # Petridish draws its pool itself: reuse it
        if (root / name).is_file():
            out.paths.append(root / name)
    return out


def pictures_or_note(run: RunDir) -> dict[str, Path]:
    """The end-of-run hook (search scaffold, `api.train`): draw the run's pictures, and log
    instead of raising when that fails, so a picture never costs a finished run. Returns
    `{"pictures/": folder}` when something was drawn there (one line of a run's summary, not
    one per frame), else nothing."""
    if not run.enabled:
        return {}
    try:
        made = write_run_pictures(run.root)
    except Exception as exc:  # noqa: BLE001 (a broken plot library must not fail a trained run)
        run.info(f"no run pictures: {type(exc).__name__}: {exc}")
        return {}
    for reason in made.skipped:
        run.info(f"pictures: {reason}")
    folder = made.run_dir / PICTURES
    drawn = [p for p in made.paths if folder in p.parents]
    run.info(f"pictures: {len(drawn)} files under {folder}")
    return {f"{PICTURES}/": folder} if drawn else {}


# ------------------------------------------------------------------------------ curves

def _curves(root: Path, out: RunPictures) -> None:
    from nasc.export.run_plots import plot_curves

    loops = metric_loops(read_jsonl(root / "metrics.jsonl"))
    if not loops:
        out.skipped.append("no training curves: metrics.jsonl has no rows")
        return
    marks: dict[str, dict[str, float]] = {}
    for t in read_jsonl(root / "trials.jsonl"):  # random search: held-out top-1 once per trial
        if isinstance(t.get("trial"), int) and isinstance(t.get("val_top1"), (int, float)):
            marks[f"random/{t['trial']}/train"] = {"val_top1": float(t["val_top1"]),
                                                   **({"val_loss": float(t["val_loss"])}
                                                      if isinstance(t.get("val_loss"), (int, float)) else {})}
    title = f"training curves: {_run_title(root)}"
    for suffix in ("png", "svg"):
        out.paths.append(plot_curves(loops, root / PICTURES / f"curves.{suffix}", title=title,
                                     final_points=marks))


def _run_title(root: Path) -> str:
    """`darts search, seed 1 (run-name)` from provenance.json / config.yaml, as far as known."""
    prov = read_json(root / "provenance.json")
    algorithm = prov.get("algorithm") if isinstance(prov, dict) else None
    seed = prov.get("seed") if isinstance(prov, dict) else None
    if seed is None:
        seed = config_value(root, "run", "seed")
    what = f"{algorithm} search" if algorithm else "training"
    return f"{what}{'' if seed is None else f', seed {seed}'} ({root.name})"


def config_value(root: Path, section: str, key: str) -> Any:
    """`section.key` of the run's config.yaml (None when missing or unreadable)."""
    from nasc.yamlio import load_yaml

    try:
        data, _ = load_yaml((root / "config.yaml").read_text(encoding="utf-8"),
                            str(root / "config.yaml"))
    except (OSError, NascError, UnicodeDecodeError):
        return None
    sec = data.get(section) if isinstance(data, dict) else None
    return sec.get(key) if isinstance(sec, dict) else None


# ------------------------------------------------------------------------------ mixing weights

def _alphas(root: Path, out: RunPictures) -> None:
    rows = [r for r in read_jsonl(root / "alphas.jsonl") if isinstance(r.get("epoch"), int)]
    if not rows:
        return  # not a differentiable search: nothing to say
    space = _space(root, out)
    templates = _mixing_by_template(rows)
    epochs = len(rows)
    from nasc.export.run_plots import render_mixing, write_bytes, write_gif

    folder = root / PICTURES / "alphas"
    for template, per_epoch in templates.items():
        edge_ids = list(per_epoch[-1])
        labels, ops, columns = _edge_table(space, template, edge_ids, per_epoch[-1])
        matrices = [[_place(row.get(e), columns[k], len(ops)) for k, e in enumerate(edge_ids)]
                    for row in per_epoch]
        values = [v for m in matrices for r in m for v in r if v is not None]
        vmin, vmax = (min(values), max(values)) if values else (0.0, 1.0)
        frames = []
        for i, (row, matrix) in enumerate(zip(rows, matrices)):
            png = render_mixing(template, labels, ops, matrix, epoch=row["epoch"] + 1, epochs=epochs,
                                vmin=vmin, vmax=vmax)
            frames.append(png)
            out.paths.append(write_bytes(folder / f"{template}_epoch{row['epoch'] + 1:03d}.png", png))
            if i == len(rows) - 1:
                # the last epoch once more with every weight written out, as a vector picture
                svg = render_mixing(template, labels, ops, matrix, epoch=row["epoch"] + 1,
                                    epochs=epochs, vmin=vmin, vmax=vmax, numbers=True, fmt="svg")
                out.paths.append(write_bytes(folder / f"{template}_final.svg", svg))
        out.paths.append(write_gif(frames, folder / f"{template}.gif"))
    _derived_cells(root, rows, space, out)


def _mixing_by_template(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, list[float]]]]:
    """Per cell template, per epoch: edge id -> mixing weights. From the row's `mixing` (edge id ->
    weights) or, in rows without it, the softmax of its `alphas` (template -> matrix)."""
    out: dict[str, list[dict[str, list[float]]]] = {}
    for r in rows:
        per: dict[str, dict[str, list[float]]] = {}
        mixing = r.get("mixing")
        if isinstance(mixing, dict) and mixing:
            for edge, weights in mixing.items():
                per.setdefault(str(edge).split(".")[0], {})[str(edge)] = _floats(weights)
        elif isinstance(r.get("alphas"), dict):
            for template, matrix in r["alphas"].items():
                for k, alpha in enumerate(matrix if isinstance(matrix, list) else []):
                    per.setdefault(template, {})[f"{template}.edge{k}"] = _softmax(_floats(alpha))
        for template, edges in per.items():
            out.setdefault(template, []).append(edges)
    return {t: v for t, v in out.items() if len(v) == len(rows)}  # skip a template that came late


def _floats(values: Any) -> list[float]:
    return [float(v) if isinstance(v, (int, float)) else math.nan
            for v in (values if isinstance(values, list) else [])]


def _softmax(values: list[float]) -> list[float]:
    if not values:
        return []
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def _space(root: Path, out: RunPictures) -> Model | None:
    """The run's space (`space.nas`), or None (noted) when it is missing or does not load."""
    from nasc.frontend import load_model

    path = root / "space.nas"
    if not path.is_file():
        out.skipped.append("no space.nas: heatmap columns are numbered and no derived cells are drawn")
        return None
    try:
        return load_model(path)
    except NascError as exc:
        out.skipped.append(f"space.nas does not load ({exc}): heatmap columns are numbered")
        return None


def _edge_table(space: Model | None, template: str, edge_ids: list[str],
                last: dict[str, list[float]]) -> tuple[list[str], list[str], list[list[int]]]:
    """Row labels (`n0.e1 <- s1`), the column ops (the union of the edges' candidates in order)
    and, per edge, the column of each of its candidates."""
    from nasc.export.viz import call_label
    from nasc.ir.ids import edge_id
    from nasc.ir.model import Choice

    cell = space.cell(template) if space is not None else None
    found: dict[str, tuple[str, list[str]]] = {}
    if cell is not None:
        for node in cell.nodes:
            for i, e in enumerate(node.edges):
                if isinstance(e.op, Choice):
                    found[edge_id(template, node.name, i)] = (
                        f"{node.name}.e{i} <- {e.input}", [call_label(c) for c in e.op.candidates])
    ops: list[str] = []
    labels: list[str] = []
    columns: list[list[int]] = []
    for edge in edge_ids:
        label, names = found.get(edge, (edge.split(".", 1)[-1], []))
        if len(names) != len(last[edge]):  # space and history disagree: number the candidates
            names = [f"op {k}" for k in range(len(last[edge]))]
        cols = []
        for k, name in enumerate(names):
            if names.index(name) != k:  # the same call twice on one edge: keep both columns
                name = f"{name} #{k}"
            if name not in ops:
                ops.append(name)
            cols.append(ops.index(name))
        labels.append(label)
        columns.append(cols)
    return labels, ops, columns


def _place(weights: list[float] | None, columns: list[int], width: int) -> list[float | None]:
    """An edge's weights spread over the op columns (None where the edge lacks the op)."""
    row: list[float | None] = [None] * width
    for col, w in zip(columns, weights or []):
        row[col] = None if math.isnan(w) else w
    return row


def _derived_cells(root: Path, rows: list[dict[str, Any]], space: Model | None,
                   out: RunPictures) -> None:
    """The cells derived after each epoch (from the row's genotype), and their animation."""
    if space is None:
        return
    genotypes = [r.get("genotype") for r in rows]
    if not any(isinstance(g, str) for g in genotypes):
        out.skipped.append("no derived cells per epoch: alphas.jsonl has no genotypes")
        return
    from nasc.export.run_plots import write_bytes, write_gif
    from nasc.export.viz import model_graph, render_bytes
    from nasc.search.genotype import from_genotype

    folder = root / PICTURES / "cells"
    frames: list[bytes] = []
    for r, genotype in zip(rows, genotypes):
        if not isinstance(genotype, str):
            continue
        model = from_genotype(genotype, space)
        graph = model_graph(model.model_copy(update={"cells": tuple(
            c for c in model.cells if c.name in (model.layout.normal, model.layout.reduce))}))
        epoch = r["epoch"] + 1
        graph.attr(label=f"cells derived after epoch {epoch} of {len(rows)}", labelloc="t",
                   fontsize="16")
        for fmt in ("svg", "png"):
            data = render_bytes(graph, fmt)
            out.paths.append(write_bytes(folder / f"epoch{epoch:03d}.{fmt}", data))
            if fmt == "png":
                frames.append(data)
    if frames:
        out.paths.append(write_gif(frames, folder / "evolution.gif", duration_ms=900))


# ------------------------------------------------------------------------------ trial-based fronts

def _front(root: Path, out: RunPictures) -> None:
    trials = [t for t in read_jsonl(root / "trials.jsonl") if isinstance(t.get("trial"), int)]
    if not trials:
        return
    from nasc.export.plots import plot_front

    axis = config_value(root, "search", "random")
    cost = axis.get("cost") if isinstance(axis, dict) else None
    cost = cost if cost in ("macs", "params", "latency_ms") else "macs"
    pareto = read_json(root / "pareto.json")
    front = [p.get("trial") for p in pareto if isinstance(p, dict)] if isinstance(pareto, list) else []
    rows = [{"trial": t["trial"], cost: t.get(cost),
             "val_top1_pct": 100 * t["val_top1"] if isinstance(t.get("val_top1"), (int, float)) else None}
            for t in trials]
    prov = read_json(root / "provenance.json")
    best = prov.get("best_trial") if isinstance(prov, dict) else None
    # 1-based, as the run's log and summary number the trials
    annotate = {t["trial"]: f"trial {t['trial'] + 1}" + (" (best)" if t["trial"] == best else "")
                for t in trials}
    failed = sum(1 for r in rows if r["val_top1_pct"] is None)
    for suffix in ("png", "svg"):
        out.paths.append(plot_front(
            rows, cost, "val_top1_pct", root / PICTURES / f"front.{suffix}", key="trial",
            front_keys=front, annotate=annotate,
            title=f"random search: held-out top-1 against cost ({len(rows)} trials"
                  + (f", {failed} failed" if failed else "") + ")",
            labels={"val_top1_pct": "held-out top-1", "macs": "multiply-adds per image"},
            units={"val_top1_pct": "%"}, points_label="trials",
            front_label="Pareto front (higher top-1, lower cost)"))
