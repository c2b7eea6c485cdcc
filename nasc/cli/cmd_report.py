"""`nasc report RUN_DIR...`: compare runs (seeds, methods) in a Markdown report with plots.

    nasc report runs/search-darts-a runs/search-darts-b runs/search-darts-c --out report
"""
from __future__ import annotations

from pathlib import Path

import typer

from nasc import api
from nasc.cli.render import fail
from nasc.errors import NascError


def register(app: typer.Typer) -> None:
    """Register `nasc report`."""

    @app.command("report")
    def report_cmd(
        run_dirs: list[Path] = typer.Argument(..., help="run directories to compare"),
        out: Path = typer.Option(Path("report"), "--out", "-o", help="folder for report.md and "
                                                                     "the plots"),
    ) -> None:
        """Final figures per run with mean, std, min and max per algorithm; curves as mean and
        std band; the distinct derived architectures and how often each was found."""
        try:
            rep = api.report(run_dirs, out)
        except NascError as e:
            raise fail(e) from None
        for group, per in rep.stats.items():
            n = sum(1 for r in rep.runs if r.algorithm == group)
            val = per.get("val_top1") or per.get("test_top1")
            if val is not None:
                which = "val" if "val_top1" in per else "test"
                spread = "" if val["std"] is None else f" \u00b1 {100 * val['std']:.2f}%"
                typer.echo(f"{group}: {n} run(s), {which} top-1 {100 * val['mean']:.2f}%{spread} "
                           f"(min {100 * val['min']:.2f}%, max {100 * val['max']:.2f}%)")
            else:
                typer.echo(f"{group}: {n} run(s)")
        typer.echo(f"{len(rep.architectures)} distinct architecture(s) in {len(rep.runs)} run(s)")
        for name, path in rep.paths.items():
            typer.echo(f"  {name:<12} {path}")
