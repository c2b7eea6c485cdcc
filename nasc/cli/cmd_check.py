"""`nasc check FILE [--set NAME=VALUE]...`: parse, verify and infer every shape; report all errors.

Exit 0 with a one-line summary (cells, templates, input, classes, parameters), or exit 1 with
every error rendered as `file:line:col`, the source line and a caret. An op library (a .nas file
of imports and ops only, like std.nas) is checked too: its ops' names, arguments and recursion.
Warnings (unused nodes) are printed but do not fail the check. Never imports torch.
"""
from __future__ import annotations

from pathlib import Path

import typer

from nasc import api
from nasc.cli.render import fail, render_error
from nasc.cli.units import shape, si
from nasc.errors import NascError


def summary(report: api.CheckReport) -> str:
    """The one-line summary `nasc check` prints for a valid model or op library."""
    if report.model is None:
        return f"ok: op library {report.path}: {report.library_ops} ops"
    parts = [f"ok: {report.model.name}"]
    network = report.network
    if network is not None:
        n_red = sum(1 for c in network.cells if c.reduction)
        parts.append(f"{len(network.cells)} cells ({n_red} reduction)")
        parts.append(f"input {shape(network.input_shape)} -> {network.classes} classes")
    else:
        parts.append(f"{len(report.model.cells)} cell templates")
    if report.search_space:
        parts.append(f"search space: {report.choice_edges} choice edges")
    if report.params is not None:
        parts.append(f"{si(report.params)} params" + (" (all candidates)" if report.search_space else ""))
    return ", ".join(parts)


def register(app: typer.Typer) -> None:
    """Register `nasc check`."""

    @app.command("check")
    def check_cmd(
        src: Path = typer.Argument(..., help="a .nas / .yaml / .json model or search space"),
        sets: list[str] = typer.Option([], "--set", help="override a model param: NAME=VALUE (repeatable)"),
    ) -> None:
        """Parse, verify and infer shapes; every error points at its file:line:col."""
        try:
            report = api.check(src, sets)
        except NascError as err:
            raise fail(err) from None
        for w in report.warnings:
            typer.echo(render_error(w), err=True)
        typer.echo(summary(report))
