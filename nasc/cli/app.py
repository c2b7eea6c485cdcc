"""The `nasc` command line: a typer app whose commands are thin wrappers over `nasc.api`.

Each command lives in its own module `nasc/cli/cmd_<name>.py` exposing `register(app)`. Only the
CLI prints; library errors (`NascError`) are rendered by `nasc.cli.render` with file:line:col, the
source line and a caret. Command modules import only `nasc.api`, the base modules (errors, ...) and
`nasc.cli.*`; the API imports torch inside the functions that need it, so `nasc check` never does.

Commands are loaded on demand: `nasc check` imports and builds only `cmd_check`, which keeps the
start-up short; `nasc --help` loads them all.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from functools import lru_cache
from typing import Any

import typer
from typer.core import TyperGroup

# command name -> the module that registers it, in `nasc --help` order
COMMANDS: dict[str, str] = {
    "compile": "cmd_compile",
    "export": "cmd_export",
    "viz": "cmd_viz",
    "stats": "cmd_stats",
    "check": "cmd_check",
    "fmt": "cmd_fmt",
    "schema": "cmd_schema",
    "plugins": "cmd_plugins",
    "ops": "cmd_ops",
    "config": "cmd_config",
    "train": "cmd_train",
    "search": "cmd_search",
    "run": "cmd_run",
    "gallery": "cmd_gallery",
    "sweep": "cmd_sweep",
    "import": "cmd_import",
    "plot": "cmd_plot",
    "report": "cmd_report",
}


@lru_cache(maxsize=None)
def load_command(name: str) -> Any:
    """The click command `name`: its module registers it on a Typer of its own, built once."""
    sub = typer.Typer(add_completion=False)
    importlib.import_module(f"nasc.cli.{COMMANDS[name]}").register(sub)
    return typer.main.get_group(sub).commands[name]


class LazyCommands(MutableMapping[str, Any]):
    """The top-level command table: the names of `COMMANDS`, each command built on first access
    (so click's listing, lookup and "did you mean" all see every command)."""

    def __init__(self) -> None:
        self._extra: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name in COMMANDS:
            return load_command(name)
        return self._extra[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._extra[name] = command

    def __delitem__(self, name: str) -> None:
        del self._extra[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (n for n in self._extra if n not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS) + sum(1 for n in self._extra if n not in COMMANDS)

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self._extra


class CommandTable(TyperGroup):
    """The top-level group, whose commands are loaded on demand (`LazyCommands`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands()


app = typer.Typer(
    name="nasc",
    help="nasc: a compiler-style toolchain for neural architecture search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=CommandTable,
)


@app.callback()
def _root() -> None:
    # a group needs a callback or several registered commands; the commands live in `COMMANDS`
    pass


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
