"""The `nasc` command line: a typer app whose commands are thin wrappers over the library.

Each command lives in its own module `nasc/cli/cmd_<name>.py` exposing `register(app)`. Only the
CLI prints; library errors (`NascError`) are rendered by `nasc.cli.render` with file:line:col, the
source line and a caret. Command modules import heavy dependencies (torch) inside the command
function, so `nasc check` never imports torch.
"""
from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="nasc",
    help="nasc: a compiler-style toolchain for neural architecture search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One line per command module; each registers its commands on `app`.
_COMMAND_MODULES = [
    "cmd_compile",
    "cmd_export",
    "cmd_viz",
    "cmd_stats",
    "cmd_check",
    "cmd_fmt",
    "cmd_schema",
    "cmd_train",
    "cmd_search",
    "cmd_search_random",
]

for _name in _COMMAND_MODULES:
    importlib.import_module(f"nasc.cli.{_name}").register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
