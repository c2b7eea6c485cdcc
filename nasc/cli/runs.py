"""Plumbing shared by the commands that start or resume a run (`train`, `search darts`,
`search random`): flags that cannot go with `--resume`, flag values as config keys, and the
config file (a shipped default unless `--config` is given).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
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


def load_run_config(config: Path | None, default_name: str, sets: list[str], full: bool,
                    values: dict[str, Any]) -> Any:
    """Load `--config` (or the shipped `default_name`), apply `--full`, `--set` and flag values."""
    from nasc.resources import configs_dir
    from nasc.train.config import load_config

    cfg_path: Path | None = config if config is not None else configs_dir() / default_name
    if config is None and not cfg_path.is_file():  # type: ignore[union-attr]
        cfg_path = None  # an installation without the shipped configs: schema defaults
    return load_config(cfg_path, overrides=sets, full=full, values=values)


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
