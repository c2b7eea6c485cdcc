"""`nasc viz SRC -o cell.svg`: graphviz picture of the cell templates and the macro network."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from nasc import api
from nasc.cli.render import fail
from nasc.errors import NascError


def register(app: typer.Typer) -> None:
    """Register `nasc viz`."""

    @app.command("viz")
    def viz_cmd(
        src: Path = typer.Argument(..., help="a .nas / .yaml source or a model file from `nasc compile`"),
        output: Path = typer.Option(..., "-o", "--output", help="picture to write"),
        fmt: Optional[str] = typer.Option(None, "--format", help="svg | png | pdf | dot (default: from the suffix)"),
        sets: list[str] = typer.Option([], "--set", help="override a model param: KEY=VALUE (repeatable)"),
        cells_only: bool = typer.Option(False, "--cells-only", help="draw the cell templates without the macro network"),
    ) -> None:
        """Draw every cell template (edges labelled by op, choices listed) and the macro network."""
        try:
            drawn = api.draw(src, output, fmt=fmt, overrides=sets, cells_only=cells_only)
        except NascError as e:
            raise fail(e) from None
        typer.echo(f"wrote {drawn.path} ({len(drawn.model.cells)} cell template(s)"
                   + ("" if drawn.network is None else f", {len(drawn.network.cells)} cells") + ")")
