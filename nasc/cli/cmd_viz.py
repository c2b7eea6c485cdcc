"""`nasc viz SRC -o cell.svg`: graphviz picture of the cell templates and the macro network."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

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
        from nasc.analysis.elaborate import elaborate
        from nasc.cli.render import fail
        from nasc.export.viz import write_picture

        try:
            if src.suffix == ".pt":
                from nasc.lower.artifact import read_artifact  # torch only for compiled files

                model = read_artifact(src).model
            else:
                from nasc.frontend import load_model, parse_overrides

                model = load_model(str(src), overrides=parse_overrides(sets) or None)
            network = None if cells_only else elaborate(model)
            path = write_picture(model, output, fmt, network)
        except NascError as e:
            raise fail(e) from None
        typer.echo(f"wrote {path} ({len(model.cells)} cell template(s)"
                   + ("" if network is None else f", {len(network.cells)} cells") + ")")
