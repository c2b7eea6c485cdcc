"""`nasc schema [-o FILE]`: the JSON Schema of the YAML/JSON model form (for editor completion)."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from nasc import api


def register(app: typer.Typer) -> None:
    """Register `nasc schema`."""

    @app.command("schema")
    def schema_cmd(
        out: Path | None = typer.Option(None, "-o", "--output", help="write the schema here (default: stdout)"),
    ) -> None:
        """Print or write the JSON Schema of the model YAML/JSON form."""
        text = json.dumps(api.schema(), indent=2) + "\n"
        if out is None:
            typer.echo(text, nl=False)
            return
        from nasc.atomic import atomic_write_text  # tempfile: only when writing

        try:
            atomic_write_text(out, text)
        except OSError as e:
            typer.echo(f"error: cannot write {out}: {e.strerror or e}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"wrote {out}")

