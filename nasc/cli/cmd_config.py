"""`nasc config show train | search NAME`: the fully resolved default config, every key with its
value and description.

    nasc config show search darts            # the toy config of `nasc search darts`
    nasc config show search darts --full     # with the paper's settings applied
    nasc config show train --yaml            # as a config file to start from
"""
from __future__ import annotations

import json
from typing import Any, Optional

import typer

from nasc import api
from nasc.cli.render import fail
from nasc.errors import NascError

config_app = typer.Typer(name="config", no_args_is_help=True, add_completion=False,
                         help="Show the experiment configs and what every key means.")


def _text(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


@config_app.command("show")
def show_cmd(
    kind: str = typer.Argument(..., help="train | search"),
    name: Optional[str] = typer.Argument(None, help="the search algorithm (with `search`)"),
    full: bool = typer.Option(False, "--full", help="with the `full:` overlay applied"),
    as_yaml: bool = typer.Option(False, "--yaml", help="as a YAML config file, descriptions as "
                                                       "comments"),
) -> None:
    """Print the resolved default config: every key, its value and its description."""
    try:
        rows = api.config_show(kind, name, full=full)
    except NascError as e:
        raise fail(e) from None
    if as_yaml:
        section: list[str] = []
        for key, value, desc in rows:
            *parents, leaf = key.split(".")
            common = 0
            while common < min(len(parents), len(section)) and parents[common] == section[common]:
                common += 1
            for depth in range(common, len(parents)):
                typer.echo("  " * depth + f"{parents[depth]}:")
            section = parents
            comment = f"  # {desc}" if desc else ""
            typer.echo("  " * len(parents) + f"{leaf}: {json.dumps(value)}{comment}")
        return
    width = max(len(k) for k, _, _ in rows)
    for key, value, desc in rows:
        typer.echo(f"{key:<{width}}  {_text(value):<14}  {desc}")


def register(app: typer.Typer) -> None:
    """Register the `nasc config` command group."""
    app.add_typer(config_app, name="config")
