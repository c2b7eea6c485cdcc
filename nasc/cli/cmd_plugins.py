"""`nasc plugins`: every op, pass, search algorithm and dataset nasc can use, and where each comes
from (built-in, a shipped op library, or the distribution of the plugin that adds it).

    nasc plugins                 # one table per kind
    nasc plugins --kind op       # ops only (op | pass | search | dataset)
    nasc plugins --json          # [{"kind": ..., "name": ..., "origin": ..., "target": ...}, ...]
"""
from __future__ import annotations

import json
from typing import Optional

import typer

from nasc import api
from nasc.cli.render import fail
from nasc.errors import ConfigError, NascError

_TITLES = {"op": "ops", "pass": "passes", "search": "search algorithms", "dataset": "datasets"}


def register(app: typer.Typer) -> None:
    """Register `nasc plugins`."""

    @app.command("plugins")
    def plugins_cmd(
        kind: Optional[str] = typer.Option(None, "--kind", help="only this kind: op | pass | search | dataset"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON list instead of tables"),
    ) -> None:
        """List the ops, passes, search algorithms and datasets, with where each comes from."""
        try:
            if kind is not None and kind not in _TITLES:
                raise ConfigError(f"unknown kind `{kind}`", key="--kind", hint="op, pass, search or dataset")
            found = [p for p in api.plugins() if kind is None or p.kind == kind]
        except NascError as err:
            raise fail(err) from None
        if as_json:
            typer.echo(json.dumps([p._asdict() for p in found], indent=2))
            return
        for k, title in _TITLES.items():
            rows = [p for p in found if p.kind == k]
            if not rows:
                continue
            width = max(len(p.name) for p in rows)
            typer.echo(f"{title} ({len(rows)}):")
            for p in rows:
                where = p.origin + (f" ({p.target})" if p.target else "")
                if p.error:
                    where += f": failed to load: {p.error}"
                typer.echo(f"  {p.name:<{width}}  {where}")
