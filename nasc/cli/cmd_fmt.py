"""`nasc fmt FILE...`: rewrite sources in canonical form (atomically); `--check` only reports.

.nas files keep their comments; op libraries (files of imports and ops, like std.nas) are
formatted too; .yaml/.yml/.json files are rewritten as canonical YAML/JSON keeping a leading
comment block (`nasc.api.format_file`, which refuses to write anything that would change the
model). `--check` exits 1 and prints a diff when a file is not canonical. Never imports torch.
"""
from __future__ import annotations

from pathlib import Path

import typer

from nasc import api
from nasc.cli.render import clear_cache, render_error
from nasc.errors import NascError


def register(app: typer.Typer) -> None:
    """Register `nasc fmt`."""

    @app.command("fmt")
    def fmt_cmd(
        files: list[Path] = typer.Argument(..., help=".nas / .yaml / .json files to format"),
        check: bool = typer.Option(False, "--check",
                                   help="do not write; exit 1 (with a diff) if a file is not canonical"),
    ) -> None:
        """Rewrite files in canonical form (idempotent; comments are kept)."""
        failed = False
        for f in files:
            name = str(f)
            try:
                result = api.format_file(f, check=check)
            except NascError as err:
                typer.echo(render_error(err), err=True)
                failed = True
                continue
            if not result.changed:
                if not check:
                    typer.echo(f"{name}: already formatted")
                continue
            if check:
                typer.echo(result.diff(), nl=False)
                typer.echo(f"{name}: would be reformatted", err=True)
                failed = True
                continue
            clear_cache()  # error carets must show the new text
            typer.echo(f"{name}: reformatted")
        if failed:
            raise typer.Exit(1)
