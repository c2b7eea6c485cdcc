"""`nasc ops [LIB]`: every op with its parameters, its cost formula or definition, and where it is
defined.

    nasc ops                 # the primitives, then the composites of the shipped libraries
    nasc ops std             # the ops of one library (a name or a .nas file)
    nasc ops --json
"""
from __future__ import annotations

import json
from typing import Optional

import typer

from nasc import api
from nasc.cli.render import fail
from nasc.errors import NascError


def register(app: typer.Typer) -> None:
    """Register `nasc ops`."""

    @app.command("ops")
    def ops_cmd(
        library: Optional[str] = typer.Argument(None, help="a library name (std, nb201) or a .nas "
                                                           "file; default: every op"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
        brief: bool = typer.Option(False, "--brief", help="one line per op, no definitions"),
    ) -> None:
        """List every op: parameters, exact cost formula (primitives) or definition, and origin."""
        try:
            rows = api.ops(library)
        except NascError as e:
            raise fail(e) from None
        if as_json:
            typer.echo(json.dumps([r._asdict() for r in rows], indent=1))
            return
        for kind in ("primitive", "composite"):
            group = [r for r in rows if r.kind == kind]
            if not group:
                continue
            typer.echo(f"{kind}s ({len(group)}):")
            for r in group:
                typer.echo(f"  {r.name}({r.params})  [{r.origin}]"
                           + (f"  # {r.doc}" if r.doc and brief else ""))
                if brief:
                    continue
                if r.doc:
                    typer.echo(f"      {r.doc}")
                for line in r.detail.splitlines():
                    typer.echo(f"      {line}")
