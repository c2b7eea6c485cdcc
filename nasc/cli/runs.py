"""Plumbing shared by the commands that start or resume a run (`train`, `search NAME`): flags
that cannot go with `--resume`, flag values as config keys, and running under a progress display.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from nasc.errors import ConfigError, NascError

T = TypeVar("T")


def refuse_with_resume(flags: dict[str, object], what: str = "run") -> None:
    """Raise when any of `flags` (flag name -> given value) was given together with `--resume`."""
    given = [flag for flag, value in flags.items() if value]
    if given:
        raise ConfigError(f"{', '.join(given)} cannot be combined with --resume", key="--resume",
                          hint=f"a resumed {what} keeps the config it started with")


def flag_values(pairs: dict[str, object]) -> dict[str, Any]:
    """The config keys (dotted) set by command-line flags: those whose value was given."""
    return {key: value for key, value in pairs.items() if value is not None}


def run_with_progress(job: Callable[[Any], T]) -> T:
    """Run `job(renderer)` under a progress renderer. A `NascError` exits 1 with the rendered
    error; Ctrl-C exits 130 with a hint to `--resume`; the renderer is closed either way."""
    import typer

    from nasc.cli.progress import ProgressRenderer
    from nasc.cli.render import fail

    renderer = ProgressRenderer()
    try:
        return job(renderer)
    except NascError as err:
        raise fail(err) from None
    except KeyboardInterrupt:
        renderer.close()
        typer.echo("interrupted (continue with --resume)", err=True)
        raise typer.Exit(code=130) from None
    finally:
        renderer.close()
