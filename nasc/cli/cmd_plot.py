"""`nasc plot RUN_DIR`: (re)draw a run's pictures from its files into RUN_DIR/pictures/.

    nasc plot runs/search-darts-20240101-120000
"""
from __future__ import annotations

from pathlib import Path

import typer

from nasc import api
from nasc.cli.render import fail
from nasc.errors import NascError


def register(app: typer.Typer) -> None:
    """Register `nasc plot`."""

    @app.command("plot")
    def plot_cmd(
        run_dir: Path = typer.Argument(..., help="a run directory of `nasc train` or `nasc search`"),
    ) -> None:
        """Draw training curves, mixing-weight heatmaps (per epoch, and a GIF), the derived cells
        per epoch and accuracy-against-cost fronts, as far as the run's files allow."""
        try:
            made = api.plot_run(run_dir)
        except NascError as e:
            raise fail(e) from None
        for reason in made.skipped:
            typer.echo(f"skipped: {reason}")
        for path in made.paths:
            typer.echo(f"  {path}")
        typer.echo(f"wrote {len(made.paths)} pictures for {made.run_dir}")
