"""`nasc check FILE [--set NAME=VALUE]...`: parse, verify and infer every shape; report all errors.

Exit 0 with a one-line summary (cells, templates, input, classes, parameters), or exit 1 with
every error rendered as `file:line:col`, the source line and a caret. An op library (a .nas file
of imports and ops only, like std.nas) is checked too: its ops' names, arguments and recursion. Warnings (unused nodes) are
printed but do not fail the check. Never imports torch.
"""
from __future__ import annotations

from pathlib import Path

import typer


def _si(n: int) -> str:
    """3349342 -> '3.35M'."""
    for div, unit in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def summary(model: object, network: object | None, params: int | None) -> str:
    """The one-line summary `nasc check` prints for a valid model."""
    from nasc.ir.model import Model
    from nasc.ir.queries import choice_edge_ids, is_search_space

    assert isinstance(model, Model)
    parts = [f"ok: {model.name}"]
    if network is not None:
        cells = getattr(network, "cells", ())
        n_red = sum(1 for c in cells if c.reduction)
        parts.append(f"{len(cells)} cells ({n_red} reduction)")
        shape = "x".join(str(v) for v in network.input_shape)  # type: ignore[attr-defined]
        parts.append(f"input {shape} -> {network.classes} classes")  # type: ignore[attr-defined]
    else:
        parts.append(f"{len(model.cells)} cell templates")
    if is_search_space(model):
        n = sum(len(choice_edge_ids(c)) for c in model.cells)
        parts.append(f"search space: {n} choice edges")
    if params is not None:
        parts.append(f"{_si(params)} params" + (" (all candidates)" if is_search_space(model) else ""))
    return ", ".join(parts)


def run_check(path: str, sets: list[str]) -> tuple[str, list[str]]:
    """Check one file: (summary line, rendered warnings); raises `NascError` on errors."""
    from nasc.cli.render import render_error
    from nasc.frontend import is_library, load_library, load_model, parse_overrides, read_text
    from nasc.ir.verify import lint

    if is_library(read_text(path), path):
        ops = load_library(path)
        own = sum(1 for d in ops if d.module == "local")
        return f"ok: op library {path}: {own} ops", []
    model = load_model(path, parse_overrides(sets) or None)
    warnings = [render_error(w) for w in lint(model)]
    try:
        from nasc.analysis.elaborate import elaborate
    except ImportError:  # shape inference not available in this build
        return summary(model, None, None), warnings
    network = elaborate(model)
    params = None
    try:
        from nasc.analysis.cost import cost

        params = cost(network).params
    except ImportError:
        pass
    return summary(model, network, params), warnings


def register(app: typer.Typer) -> None:
    """Register `nasc check`."""

    @app.command("check")
    def check_cmd(
        src: Path = typer.Argument(..., help="a .nas / .yaml / .json model or search space"),
        sets: list[str] = typer.Option([], "--set", help="override a model param: NAME=VALUE (repeatable)"),
    ) -> None:
        """Parse, verify and infer shapes; every error points at its file:line:col."""
        from nasc.cli.render import render_error
        from nasc.errors import NascError

        try:
            line, warnings = run_check(str(src), sets)
        except NascError as err:
            typer.echo(render_error(err), err=True)
            raise typer.Exit(1) from None
        for w in warnings:
            typer.echo(w, err=True)
        typer.echo(line)
