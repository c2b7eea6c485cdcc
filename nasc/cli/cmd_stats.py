"""`nasc stats FILE`: parameters, multiply-adds and activation memory of a model (no torch), and
with `--latency` the measured forward latency (lowers the network; imports torch).

A table of the stems, cells (one row each with `--per-cell`), head and aux head with the totals,
or with `--json` one JSON object (`nasc.api.StatsReport.as_dict()`: the model name, the cost
report, and `latency`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from nasc import api
from nasc.cli.render import fail
from nasc.cli.units import mib, shape, si
from nasc.errors import NascError


def register(app: typer.Typer) -> None:
    """Register `nasc stats`."""

    @app.command("stats")
    def stats_cmd(
        src: Path = typer.Argument(..., help="a .nas / .yaml model or search space"),
        sets: list[str] = typer.Option([], "--set", help="override a model param: NAME=VALUE (repeatable)"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
        per_cell: bool = typer.Option(False, "--per-cell", help="one table row per cell instance"),
        latency: bool = typer.Option(False, "--latency", help="also measure the eval forward "
                                                              "latency (lowers the network)"),
        batch: int = typer.Option(1, "--batch", help="--latency: batch size"),
        device: str = typer.Option("cpu", "--device", help="--latency: cpu | cuda | cuda:N"),
        repeat: int = typer.Option(20, "--repeat", help="--latency: timed runs (after 3 warm-up runs)"),
        threads: Optional[int] = typer.Option(None, "--threads", help="--latency: CPU threads "
                                                                       "(default: torch's)"),
    ) -> None:
        """Parameters, multiply-adds (as torch's flop counter counts them, / 2) and float32
        activation memory of one batch-1 eval forward; a choice edge counts all its candidates.
        With --latency, the measured eval forward time (median, min, p90 over --repeat runs)."""
        try:
            result = api.stats(src, sets, latency=latency, batch=batch, device=device, repeat=repeat,
                               threads=threads)
        except NascError as err:
            raise fail(err) from None
        model, network, report, measured = result.model, result.network, result.cost, result.latency

        if as_json:
            typer.echo(json.dumps(result.as_dict(), indent=2))
            return

        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{model.name}: input {shape(report.input_shape)}, {report.classes} classes, "
                            f"{len(report.cells)} cells")
        table.add_column("part")
        table.add_column("out", justify="right")
        table.add_column("params", justify="right")
        table.add_column("MACs", justify="right")
        table.add_column("activations", justify="right")

        def row(name: str, out: str, params: int, macs: int, act: int | None, **kw: object) -> None:
            table.add_row(name, out, f"{params:,}", f"{macs:,}", "" if act is None else mib(act), **kw)  # type: ignore[arg-type]

        stem_out = shape(network.stems[-1].out_shape) if network.stems else ""
        row("input + stems", stem_out, report.stems.params, report.stems.macs,
            report.stems.activation_bytes + 4 * report.input_shape[0] * report.input_shape[1] * report.input_shape[2])
        if per_cell:
            for c in report.cells:
                row(f"cell {c.index} {c.template}", shape(c.out_shape), c.params, c.macs, c.activation_bytes)
        else:
            for red, label in ((False, "normal cells"), (True, "reduction cells")):
                cs = [c for c in report.cells if c.reduction == red]
                if cs:
                    row(f"{label} ({len(cs)})", "", sum(c.params for c in cs), sum(c.macs for c in cs),
                        sum(c.activation_bytes for c in cs))
        row("head", shape(network.head.out_shape), report.head.params, report.head.macs,
            report.head.activation_bytes)
        table.add_section()
        row("total (eval)", "", report.params, report.macs, report.activation_bytes, style="bold")
        if report.aux is not None:
            row(f"aux head (after cell {network.aux_after}, training)", "", report.aux.params, report.aux.macs, None)
            row("total with aux", "", report.params_with_aux, report.macs_with_aux, None)
        console = Console(width=110)
        console.print(table)
        console.print(f"params {si(report.params)}, MACs {si(report.macs)}, "
                      f"activations {mib(report.activation_bytes)} (float32, batch 1)")
        if measured is not None:
            console.print(f"latency: median {measured.median_ms:.2f} ms, min {measured.min_ms:.2f} ms, "
                          f"p90 {measured.p90_ms:.2f} ms (batch {measured.batch_size}, "
                          f"{measured.device}, {measured.threads} threads, {measured.repeat} runs "
                          f"after {measured.warmup} warm-up)")
