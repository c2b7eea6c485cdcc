"""`nasc stats FILE`: parameters, multiply-adds and activation memory of a model (no torch), and
with `--latency` the measured forward latency (lowers the network; imports torch).

A table of the stems, cells (one row each with `--per-cell`), head and aux head with the totals,
or with `--json` one JSON object (`nasc.api.StatsReport.as_dict()`: the model name, the cost
report, and `latency`; with `--train-memory` a `train_memory` object, with `--fit-memory` a
`fit_memory` one). `--train-memory` predicts the peak memory of one training step
(`nasc.analysis.memory`, no torch); `--fit-memory 16GB` the largest batch that fits.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

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
        batch: Optional[int] = typer.Option(None, "--batch", help="batch size (--latency: default 1; "
                                                                   "--train-memory: default 64)"),
        train_memory: bool = typer.Option(False, "--train-memory", help="predict the peak memory of one "
                                                                        "training step (no torch)"),
        optimizer: str = typer.Option("sgd", "--optimizer", help="--train-memory: sgd (momentum) | adam | "
                                                                 "adamw | none"),
        amp: bool = typer.Option(False, "--amp", help="--train-memory: 16-bit activations (an estimate)"),
        checkpointing: bool = typer.Option(False, "--checkpointing", help="--train-memory: activation "
                                                                          "checkpointing per cell"),
        fit_memory: Optional[str] = typer.Option(None, "--fit-memory", help="the largest training batch "
                                                                            "whose peak fits, e.g. 16GB"),
        device: str = typer.Option("cpu", "--device", help="--latency: cpu | cuda | cuda:N"),
        repeat: int = typer.Option(20, "--repeat", help="--latency: timed runs (after 3 warm-up runs)"),
        threads: Optional[int] = typer.Option(None, "--threads", help="--latency: CPU threads "
                                                                       "(default: torch's)"),
    ) -> None:
        """Parameters, multiply-adds (as torch's flop counter counts them, / 2) and float32
        activation memory of one batch-1 eval forward; a choice edge counts all its candidates.
        With --latency, the measured eval forward time (median, min, p90 over --repeat runs)."""
        planned = fits = None
        try:
            result = api.stats(src, sets, latency=latency, batch=batch or 1, device=device, repeat=repeat,
                               threads=threads)
            if train_memory or fit_memory is not None:
                planned = api.train_memory(src, sets, batch=batch or 64, optimizer=optimizer, amp=amp,
                                           checkpointing=checkpointing)
            if fit_memory is not None:
                fits = api.fit_memory(src, fit_memory, sets, optimizer=optimizer, amp=amp,
                                      checkpointing=checkpointing)
        except NascError as err:
            raise fail(err) from None
        model, network, report, measured = result.model, result.network, result.cost, result.latency

        if as_json:
            data = result.as_dict()
            if planned is not None:
                data["train_memory"] = planned.as_dict()
            if fits is not None:
                data["fit_memory"] = {"budget": fit_memory, "batch": fits}
            typer.echo(json.dumps(data, indent=2))
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
        if planned is not None:
            _print_plan(console, planned, fit_memory, fits)
        if measured is not None:
            console.print(f"latency: median {measured.median_ms:.2f} ms, min {measured.min_ms:.2f} ms, "
                          f"p90 {measured.p90_ms:.2f} ms (batch {measured.batch_size}, "
                          f"{measured.device}, {measured.threads} threads, {measured.repeat} runs "
                          f"after {measured.warmup} warm-up)")



def _print_plan(console: Any, plan: Any, budget: str | None, fits: int | None) -> None:
    """The training-memory lines of `nasc stats --train-memory` / `--fit-memory` (`plan` is the
    `TrainMemory` of `nasc.api.train_memory`)."""
    extra = (", amp" if plan.amp else "") + (", checkpointing per cell" if plan.checkpointing else "")
    console.print(f"training step (batch {plan.batch}, {plan.optimizer}{extra}): peak {mib(plan.peak)} "
                  f"at the {plan.peak_at}")
    console.print(f"  weights {mib(plan.weights)}, gradients {mib(plan.gradients)}, optimizer state "
                  f"{mib(plan.optimizer_state)}, saved activations {mib(plan.activations)}, transient "
                  f"{mib(plan.transient)}, batch {mib(plan.input_bytes)}")
    if fits is not None:
        console.print(f"largest batch within {budget}: {fits}")
