"""The macro sweep: one network (or search space) over ranges of its macro skeleton, measured.

    from nasc.search.sweep import parse_axis, run_sweep, write_outputs
    result = run_sweep(model, cells=parse_axis("8:20", "cells"), channels=(16, 32))
    result.rows[0]["params"], result.front          # one row per point; keys on the Pareto front
    write_outputs(result, csv="sweep.csv", json="sweep.json", plot="front.png")

Archai's "exhaustive Pareto front generation". The grid is the product of four axes, each a
tuple of ints or None (the file's own): `cells` and `channels` go through the `scale-up` pass;
`reductions` is a count of reduction cells placed evenly (`nasc.ir.macro.spaced_reductions`; 2 is
the DARTS rule); `nodes` keeps the first k nodes of every cell template (the `nodes` pass). Each
point is verified, elaborated and costed by the analytic cost model (`nasc.analysis.cost`): exact
params, MACs and activation memory, torch-free and a few milliseconds a network. A point that is
not a valid network (more reductions than cells, a feature map shrunk to nothing) is a `skipped`
row with its reason. A search space is swept as its supernet (every candidate counted; `kind`
says so) and only analytically.

With `latency` each network's batch-1 eval forward is timed (`nasc.lower.latency`); with a
training config each network is trained briefly as a job on the search executor (in process or
Ray, like random-search trials) and gets `accuracy` (held-out top-1) and `error`; a job that fails
is a `failed` row with its error. The front is `nasc.search.pareto.non_dominated` over the two
chosen axes (both minimised, `accuracy` maximised); rows on it have `front = True`.
"""
from __future__ import annotations

import csv as _csv
import io
import itertools
import json as _json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasc.analysis.cost import cost
from nasc.analysis.elaborate import elaborate
from nasc.errors import ConfigError, Diagnostics, NascError, ValidationError, raise_all
from nasc.ir.macro import spaced_reductions
from nasc.ir.model import Model
from nasc.ir.queries import is_search_space
from nasc.ir.verify import verify
from nasc.ops.registry import primitive_table
from nasc.passes.common import cell_count, eval_in_model
from nasc.passes.scale_up import scale_up
from nasc.passes.set_nodes import set_nodes

AXES = ("cells", "reductions", "nodes", "channels")
#: the columns every sweep has, in table order; `latency_ms` and the training ones when measured
BASE_COLUMNS = ("point", "status", "kind", "cells", "reductions", "reduction_cells", "nodes", "channels",
                "params", "params_with_aux", "macs", "activation_bytes")
LATENCY_COLUMNS = ("latency_ms",)
TRAIN_COLUMNS = ("accuracy", "error", "train_seconds")
#: columns where higher is better (the front maximises them)
MAXIMISED = frozenset({"accuracy"})
#: an axis value range larger than this is a typo, not a sweep
_MAX_AXIS_VALUES = 10_000


def parse_axis(value: str | int | Sequence[int] | None, name: str) -> tuple[int, ...] | None:
    """One axis of the grid: `"A:B"` (inclusive), `"A:B:STEP"`, `"16,36"`, `"8"`, an int or a
    sequence of ints; None stays None (the file's own). A malformed value is a `ConfigError`
    naming `--<name>`."""
    if value is None:
        return None
    key, hint = f"--{name}", f"e.g. --{name} 8:20, --{name} 16,36 or --{name} 8"
    if isinstance(value, bool):
        raise ConfigError(f"`{value}` is not a value for {key}", key=key, hint=hint)
    if isinstance(value, int):
        values: list[int] = [value]
    elif isinstance(value, str):
        text = value.replace(" ", "")
        try:
            if ":" in text:
                parts = [int(p) for p in text.split(":")]
                if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] < 1):
                    raise ValueError(text)
                lo, hi, step = parts[0], parts[1], parts[2] if len(parts) == 3 else 1
                if hi < lo:
                    raise ConfigError(f"empty range `{value}` for {key}", key=key, hint=f"write {hi}:{lo}")
                if (hi - lo) // step >= _MAX_AXIS_VALUES:
                    raise ConfigError(f"range `{value}` for {key} is too large", key=key, hint=hint)
                values = list(range(lo, hi + 1, step))
            else:
                values = [int(p) for p in text.split(",") if p != ""]
        except ValueError:
            raise ConfigError(f"cannot read `{value}` as values for {key}", key=key, hint=hint) from None
    else:
        values = list(value)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ConfigError(f"{key} takes integers, got {values!r}", key=key, hint=hint)
    if not values:
        raise ConfigError(f"no values for {key}", key=key, hint=hint)
    lowest = {"cells": 1, "channels": 1, "nodes": 1, "reductions": 0}.get(name, 0)
    if min(values) < lowest:
        raise ConfigError(f"{key} values must be at least {lowest}, got {min(values)}", key=key, hint=hint)
    return tuple(dict.fromkeys(values))  # in the order given, without repeats


@dataclass(frozen=True)
class SweepPoint:
    """One grid point: the requested value of each axis (None: the file's own)."""

    index: int
    cells: int | None = None
    reductions: int | None = None
    nodes: int | None = None
    channels: int | None = None


def grid(cells: Sequence[int] | None = None, reductions: Sequence[int] | None = None,
         nodes: Sequence[int] | None = None, channels: Sequence[int] | None = None) -> list[SweepPoint]:
    """Every combination of the axes (cells outermost, channels innermost), numbered from 0."""
    axes = [tuple(a) if a is not None else (None,) for a in (cells, reductions, nodes, channels)]
    return [SweepPoint(i, *combo) for i, combo in enumerate(itertools.product(*axes))]


def build_point(model: Model, point: SweepPoint) -> Model:
    """`model` at `point`: the `nodes` pass, then `scale-up` (cells, channels, reductions placed
    evenly), verified. An invalid combination raises `NascError`."""
    out = model if point.nodes is None else set_nodes(model, point.nodes)
    positions = None
    if point.reductions is not None:
        n = point.cells if point.cells is not None else cell_count(out)
        positions = list(spaced_reductions(n, point.reductions))
    out = scale_up(out, cells=point.cells, channels=point.channels, reductions=positions)
    raise_all(verify(out, primitive_table()))
    return out


def _layout_nodes(model: Model) -> int:
    """Intermediate nodes of the largest cell template the layout uses."""
    names = {model.layout.normal, model.layout.reduce}
    return max((len(c.nodes) for c in model.cells if c.name in names), default=0)


def _reason(err: NascError) -> str:
    """A short reason for a table cell: the message (the first of several) and the hint."""
    first = err.errors[0] if isinstance(err, Diagnostics) and err.errors else err
    more = f" (+{len(err.errors) - 1} more)" if isinstance(err, Diagnostics) and len(err.errors) > 1 else ""
    hint_text = f"; {first.hint}" if first.hint else ""
    return f"{first.message}{more}{hint_text}"


def analytic_row(model: Model, point: SweepPoint, columns: Sequence[str]) -> tuple[dict[str, Any], Any]:
    """The row of one point and its elaborated network (None when skipped)."""
    row: dict[str, Any] = dict.fromkeys(columns)
    row.update(point=point.index, kind="supernet" if is_search_space(model) else "network",
               cells=point.cells, reductions=point.reductions, nodes=point.nodes, channels=point.channels,
               front=False)
    note = None
    try:
        built = build_point(model, point)
        try:
            network = elaborate(built)
        except NascError:
            if built.aux is None:
                raise
            # the aux tower only trains: a network it does not fit (DARTS' tower wants an 8x8
            # map) is still measured, without it, and the row says so
            network = elaborate(built.model_copy(update={"aux": None}))
            note = "aux tower left out: it does not fit this skeleton (no params_with_aux)"
        report = cost(network)
    except NascError as err:
        row.update(status="skipped", reason=_reason(err))
        return row, None
    red = [c.index for c in report.cells if c.reduction]
    row.update(status="ok", cells=len(report.cells), reductions=len(red), reduction_cells=red,
               nodes=_layout_nodes(built), channels=eval_in_model(built, built.layout.channels),
               params=report.params, params_with_aux=report.params_with_aux if note is None else None,
               macs=report.macs, activation_bytes=report.activation_bytes, reason=note)
    return row, network


def pareto_keys(rows: Iterable[Mapping[str, Any]], x: str, y: str) -> list[int]:
    """Points of the rows no other beats on both `x` and `y` (minimised; `accuracy` maximised),
    cheapest in `x` first. Rows without both figures are left out."""
    from nasc.search.pareto import Point, non_dominated

    def sign(column: str) -> float:
        return -1.0 if column in MAXIMISED else 1.0

    pts = [Point(r["point"], sign(x) * float(r[x]), sign(y) * float(r[y])) for r in rows
           if isinstance(r.get(x), (int, float)) and isinstance(r.get(y), (int, float))]
    front = non_dominated(pts)
    return [int(p.key) for p in sorted(front, key=lambda p: (sign(x) * p.cost, p.key))]  # type: ignore[call-overload]


@dataclass
class SweepResult:
    """A finished sweep: one row per grid point (`columns` in order), the front's point numbers,
    and the files written (`write_outputs`)."""

    model: str
    kind: str
    axes: dict[str, list[int] | None]
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    x: str
    y: str
    front: list[int]
    source: str | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def measured(self) -> list[dict[str, Any]]:
        """The rows of valid networks (status ok, or failed in training: they have costs)."""
        return [r for r in self.rows if r["status"] != "skipped"]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the model, what was swept, the axes of the front, the rows."""
        return {"model": self.model, "source": self.source, "kind": self.kind, "axes": self.axes,
                "x": self.x, "y": self.y, "front": self.front, "columns": list(self.columns),
                "rows": self.rows}


def numeric_columns(columns: Sequence[str]) -> list[str]:
    """The columns a front or a plot can use."""
    return [c for c in columns if c not in ("point", "status", "kind", "reduction_cells", "front", "reason")]


def run_sweep(model: Model, *, cells: Sequence[int] | None = None, reductions: Sequence[int] | None = None,
              nodes: Sequence[int] | None = None, channels: Sequence[int] | None = None,
              latency: Mapping[str, Any] | None = None, train: Any = None, x: str = "macs",
              y: str | None = None, source: str | None = None, events: Callable[[Any], None] | None = None
              ) -> SweepResult:
    """Measure `model` at every grid point (see the module docstring).

    `latency` (keyword arguments of `nasc.lower.latency.network_latency`: device, repeat,
    threads) adds `latency_ms`; `train`, a validated experiment config (`search.executor`,
    `search.val_fraction`, trainer, data), trains every network. `x`/`y` pick the front's axes
    (default y: `error` when training, else `params`). A search space with `latency`/`train` is a
    `ValidationError`; an unknown axis a `ConfigError`.
    """
    columns = (*BASE_COLUMNS, *(LATENCY_COLUMNS if latency is not None else ()),
               *(TRAIN_COLUMNS if train is not None else ()), "front", "reason")
    y = y or ("error" if train is not None else "params")
    for flag, column in (("--x", x), ("--y", y)):
        if column not in numeric_columns(columns):
            raise ConfigError(f"`{column}` is not a column of this sweep", key=flag,
                              hint=f"one of {', '.join(numeric_columns(columns))}")
    space = is_search_space(model)
    if space and (latency is not None or train is not None):
        raise ValidationError(
            f"`{model.name}` is a search space: only its analytic figures (as a supernet) can be swept",
            model.span, hint="drop --latency/--train, or derive a network first (nasc search darts / random)")
    axes = {"cells": cells, "reductions": reductions, "nodes": nodes, "channels": channels}
    rows: list[dict[str, Any]] = []
    networks: dict[int, Any] = {}
    for point in grid(cells, reductions, nodes, channels):
        row, network = analytic_row(model, point, columns)
        rows.append(row)
        if network is not None:
            networks[point.index] = network
    if latency is not None:
        from nasc.lower.latency import network_latency

        for i, network in networks.items():
            rows[i]["latency_ms"] = network_latency(network, batch_size=1, **dict(latency)).median_ms
    if train is not None:
        _train_all(rows, networks, train, events)
    front = pareto_keys((r for r in rows if r["status"] == "ok"), x, y)
    for i in front:
        rows[i]["front"] = True
    return SweepResult(model.name, "supernet" if space else "network",
                       {k: list(v) if v is not None else None for k, v in axes.items()}, columns, rows, x, y,
                       front, source)


# ---- training --------------------------------------------------------------------------------

def _train_all(rows: list[dict[str, Any]], networks: Mapping[int, Any], config: Any,
               events: Callable[[Any], None] | None) -> None:
    """Train every valid network as a job on the config's executor; fill the training columns."""
    from nasc.ir.serde import to_json
    from nasc.search.executor import Job, make_executor
    from nasc.train.events import Message

    sink = events or (lambda event: None)
    cfg = config.model_dump(mode="json")
    jobs = [Job(f"point/{i}", "nasc.search.sweep:train_job",
                {"model": to_json(net.model, self_contained=True), "config": cfg, "index": i})
            for i, net in networks.items()]
    sink(Message(f"sweep: training {len(jobs)} network(s), {config.trainer.epochs} epoch(s) each, "
                 f"executor {config.search.executor.kind}"))
    with make_executor(config.search.executor) as ex:
        for job, result in zip(jobs, ex.run(jobs, ordered=True, local={"events": events})):
            row = rows[int(job.key.split("/")[1])]
            if result.ok:
                row.update(result.value)
                sink(Message(f"[sweep] point {row['point']}: accuracy {100 * row['accuracy']:.2f}% "
                             f"({row['train_seconds']:.1f}s)"))
            else:
                row.update(status="failed", reason=result.error)
                sink(Message(f"[sweep] point {row['point']} failed after {result.attempts} attempt(s): "
                             f"{result.error}", level="warning"))


def train_job(model: str, config: Mapping[str, Any], index: int, *, events: Any = None,
              **_local: Any) -> dict[str, float]:
    """Train one network (its IR as self-contained JSON) with `config` (seed `run.seed + index`)
    on the training part of the data; its held-out top-1 (`search.val_fraction`, else the test
    set) as `accuracy`, `error = 1 - accuracy`, and the wall time. An executor job (plain args)."""
    import time

    import torch

    from nasc.compiler import compile_model
    from nasc.ir.serde import from_data
    from nasc.search.registry import ensure_sections
    from nasc.search.space import fit_to_data
    from nasc.train.config import validate_config
    from nasc.train.data import build_data
    from nasc.train.distributed import resolve_device
    from nasc.train.runner import seed_everything
    from nasc.train.trainer import Trainer

    started = time.perf_counter()
    ensure_sections()  # a fresh Ray worker has not registered the search sections yet
    cfg = validate_config(dict(config))
    device = resolve_device(cfg.run.device)
    if cfg.run.threads is not None:
        torch.set_num_threads(cfg.run.threads)
    seed = cfg.run.seed + index
    seed_everything(seed)
    data = build_data(cfg.data, device=device, seed=cfg.run.seed, val_fraction=cfg.search.val_fraction)
    net = fit_to_data(from_data(_json.loads(model), "sweep"), data.num_classes, data.input_shape)
    compiled = compile_model(net, aux=False, seed=seed)
    trainer = Trainer(compiled.module, trainer=cfg.trainer, optimizer=cfg.optimizer, schedule=cfg.schedule,
                      device=device, key=f"sweep/{index}/train", events=events,
                      eval_batch_size=cfg.data.eval_batch_size)
    trainer.fit(data.train, None)
    held = trainer.evaluate(data.val.data if data.val is not None else data.test)
    top1 = float(held["top1"])
    return {"accuracy": top1, "error": 1.0 - top1, "train_seconds": round(time.perf_counter() - started, 3)}


# ---- files -----------------------------------------------------------------------------------

def to_csv(result: SweepResult) -> str:
    """The rows as CSV (header first; empty cells for missing figures, reduction cells `a b c`)."""
    buf = io.StringIO()
    writer = _csv.writer(buf, lineterminator="\n")
    writer.writerow(result.columns)
    for r in result.rows:
        cells = []
        for c in result.columns:
            v = r.get(c)
            cells.append("" if v is None else " ".join(map(str, v)) if isinstance(v, list) else
                         str(v).lower() if isinstance(v, bool) else v)
        writer.writerow(cells)
    return buf.getvalue()


def _label(row: Mapping[str, Any], swept: Sequence[str]) -> str:
    """A point's short name by the swept axes: `c8 C16`."""
    short = {"cells": "c", "reductions": "r", "nodes": "n", "channels": "C"}
    return " ".join(f"{short[a]}{row[a]}" for a in swept)


def write_outputs(result: SweepResult, *, csv: str | os.PathLike[str] | None = None,
                  json: str | os.PathLike[str] | None = None, plot: str | os.PathLike[str] | None = None,
                  log: bool = False) -> SweepResult:
    """Write the CSV, the JSON and the picture of the front (atomically); `result.files` records
    them. `log` draws both plot axes on a log scale."""
    from nasc.atomic import atomic_write_text

    def write(path: str | os.PathLike[str], text: str, flag: str) -> Path:
        try:
            return atomic_write_text(path, text)
        except OSError as e:
            raise ConfigError(f"cannot write {path}: {e.strerror or e}", key=flag) from None

    for flag, path in (("--csv", csv), ("--json", json), ("--plot", plot)):
        # an atomic write replaces what is there: never a folder or a device such as /dev/null
        if path is not None and os.path.lexists(path) and not os.path.isfile(path):
            raise ConfigError(f"cannot write {path}: it exists and is not a regular file", key=flag,
                              hint="name a new file or an existing regular file")

    if csv is not None:
        result.files["csv"] = write(csv, to_csv(result), "--csv")
    if json is not None:
        result.files["json"] = write(json, _json.dumps(result.as_dict(), indent=1) + "\n", "--json")
    if plot is not None:
        from nasc.export.plots import LABELS, plot_front

        swept = [a for a in AXES if result.axes.get(a) is not None and len(result.axes[a] or ()) > 1]
        groups = [a for a in swept if 1 < len(result.axes[a] or ()) <= 10]
        color_by = min(groups, key=lambda a: len(result.axes[a] or ())) if groups else None
        rows = result.measured  # failed trainings still have their costs
        what = "supernets of the space" if result.kind == "supernet" else "networks"
        result.files["plot"] = plot_front(
            rows, result.x, result.y, plot, key="point", front_keys=result.front,
            annotate={r["point"]: _label(r, swept) for r in rows if r["front"]} if swept else None,
            color_by=color_by, log_x=log, log_y=log, points_label=what,
            title=f"{result.model}: {len(rows)} {what}; Pareto front of "
                  f"{LABELS.get(result.y, result.y)} against {LABELS.get(result.x, result.x)}")
    return result
