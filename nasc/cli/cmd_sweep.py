"""`nasc sweep FILE`: one network (or a space's supernet) over ranges of its macro skeleton.

    nasc sweep examples/darts_v2_cifar.nas --cells 8:20 --channels 16,32,48 --plot front.png
    nasc sweep final.nas --reductions 1:3 --nodes 2:4 --csv sweep.csv --json sweep.json
    nasc sweep final.nas --cells 5,8 --channels 8 --train --set trainer.epochs=1 --executor ray

A table of every point (params, MACs, activation memory; latency with --latency; accuracy and
error with --train; `*` marks the Pareto front over --x/--y; skipped and failed points with their
reason). A thin wrapper over `nasc.api.sweep`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from nasc import api
from nasc.cli.render import fail
from nasc.cli.units import mib, si
from nasc.errors import NascError

_AXIS_HELP = "a range A:B (inclusive), a list A,B,C or one value; absent: the file's own"


def _split_sets(items: list[str]) -> tuple[list[str], list[str]]:
    """`--set` items: model params (`C=16`) and, with a dot in the key, config keys
    (`trainer.epochs=1`, for --train)."""
    params, config = [], []
    for item in items:
        (config if "." in item.partition("=")[0] else params).append(item)
    return params, config


def _cell(row: dict[str, Any], column: str) -> str:
    """One table cell of a row."""
    v = row.get(column)
    if v is None:
        return ""
    if column in ("params", "macs"):
        return f"{v:,}"
    if column == "activation_bytes":
        return mib(v)
    if column == "latency_ms":
        return f"{v:.2f}"
    if column in ("accuracy", "error"):
        return f"{100 * v:.2f}%"
    if column == "reduction_cells":
        return " ".join(map(str, v))
    return str(v)


def render_table(result: Any) -> None:
    """Print the sweep's rows as a rich table (plain text when not on a terminal)."""
    from rich.console import Console
    from rich.table import Table

    heads = {"point": "#", "cells": "cells", "reduction_cells": "reduction cells", "nodes": "nodes",
             "channels": "C", "params": "params", "macs": "MACs", "activation_bytes": "activations",
             "latency_ms": "latency ms", "accuracy": "accuracy", "error": "error"}
    shown = [c for c in heads if c in result.columns]
    what = ("supernets of the space (every candidate counted)" if result.kind == "supernet"
            else "networks")
    ok = sum(1 for r in result.rows if r["status"] == "ok")
    table = Table(title=f"{result.model}: {ok} of {len(result.rows)} {what}; * = front of "
                        f"{result.y} against {result.x}")
    for c in shown:
        table.add_column(heads[c], justify="left" if c == "reduction_cells" else "right", no_wrap=True)
    table.add_column("", no_wrap=True)  # the front mark
    table.add_column("note", overflow="fold")
    for r in result.rows:
        note = r.get("reason") or ""
        if r["status"] != "ok":
            note = f"{r['status']}: {note}"
        table.add_row(*(_cell(r, c) for c in shown), "*" if r.get("front") else "", note,
                      style="dim" if r["status"] == "skipped" else None)
    console = Console(width=160)
    console.print(table)
    front = [result.rows[i] for i in result.front]
    if front:
        cheap, big = front[0], front[-1]
        console.print(f"front: {len(front)} point(s), from #{cheap['point']} ({si(cheap['params'])} params, "
                      f"{si(cheap['macs'])} MACs) to #{big['point']} ({si(big['params'])} params, "
                      f"{si(big['macs'])} MACs)")
    for name, path in result.files.items():
        console.print(f"{name}: {path}")


def register(app: typer.Typer) -> None:
    """Register `nasc sweep`."""

    @app.command("sweep")
    def sweep_cmd(
        src: Path = typer.Argument(..., help="a .nas / .yaml network or search space"),
        cells: Optional[str] = typer.Option(None, "--cells", help=f"number of cells: {_AXIS_HELP}"),
        reductions: Optional[str] = typer.Option(None, "--reductions", help="number of reduction cells, "
                                                 f"placed evenly (2 = the DARTS thirds): {_AXIS_HELP}"),
        nodes: Optional[str] = typer.Option(None, "--nodes", help="intermediate nodes kept per cell "
                                            f"template: {_AXIS_HELP}"),
        channels: Optional[str] = typer.Option(None, "--channels", help=f"initial width: {_AXIS_HELP}"),
        sets: list[str] = typer.Option([], "--set", help="a model param NAME=VALUE, or with --train a "
                                                         "config key SECTION.KEY=VALUE (repeatable)"),
        x: str = typer.Option("macs", "--x", help="front/plot x axis: a numeric column"),
        y: Optional[str] = typer.Option(None, "--y", help="front/plot y axis (default: params; error "
                                                          "with --train)"),
        csv: Optional[Path] = typer.Option(None, "--csv", help="write the rows as CSV"),
        json_path: Optional[Path] = typer.Option(None, "--json", help="write the rows as JSON"),
        plot: Optional[Path] = typer.Option(None, "--plot", help="draw every point and the front "
                                                                 "(.png, .svg or .pdf)"),
        log: bool = typer.Option(False, "--log", help="--plot: log-scale axes"),
        latency: bool = typer.Option(False, "--latency", help="also measure each network's batch-1 "
                                                              "eval forward (imports torch)"),
        device: Optional[str] = typer.Option(None, "--device", help="--latency / --train: cpu | cuda | "
                                                                    "cuda:N (latency default cpu)"),
        repeat: int = typer.Option(20, "--repeat", help="--latency: timed runs per network"),
        threads: Optional[int] = typer.Option(None, "--threads", help="--latency: CPU threads"),
        train: bool = typer.Option(False, "--train", help="train each network briefly (the random-search "
                                                          "toy config) and add accuracy / error"),
        config: Optional[Path] = typer.Option(None, "--config", help="--train: experiment config "
                                                                     "(default: search_random.yaml)"),
        full: bool = typer.Option(False, "--full", help="--train: the config's full settings"),
        executor: Optional[str] = typer.Option(None, "--executor", help="--train: inline | ray"),
    ) -> None:
        """Measure a network over ranges of its macro skeleton: exact params, MACs and activation
        memory of every point (no torch), optionally its latency or a short training, with the
        Pareto front over two columns. Invalid combinations are listed as skipped."""
        params, config_sets = _split_sets(sets)
        renderer = None
        if train:
            from nasc.cli.progress import ProgressRenderer

            renderer = ProgressRenderer()
        try:
            result = api.sweep(src, cells=cells, reductions=reductions, nodes=nodes, channels=channels,
                               overrides=params, latency=latency, device=device, repeat=repeat,
                               threads=threads, train=train, config=config, sets=config_sets, full=full,
                               executor=executor, x=x, y=y, csv=csv, json=json_path, plot=plot, log=log,
                               events=renderer)
        except NascError as err:
            raise fail(err) from None
        finally:
            if renderer is not None:
                renderer.close()
        render_table(result)
