"""Run-directory plumbing shared by every search driver (DARTS, random): preparing the space at
search size, recording it as `space.nas`, and reopening a run for `--resume`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nasc.atomic import atomic_write_text
from nasc.errors import CheckpointError, ConfigError, raise_all
from nasc.ir.model import Model
from nasc.train.rundir import RunDir


def require_single_process(command: str) -> None:
    """Refuse to run a search under a multi-process `torchrun` launch.

    The searches run in one process (DARTS' bi-level steps and the trial loop are not sharded);
    under torchrun every rank would run the whole search and race on the same run folder.
    """
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(f"`{command}` runs in a single process, not under a multi-process torchrun",
                          key="WORLD_SIZE",
                          hint=f"run `{command}` directly; `torchrun ... -m nasc train` trains a "
                               "derived network with DDP, and `--executor ray` runs random-search "
                               "trials in parallel")


def comment_header(text: str) -> str:
    """`text` as `#` comment lines, for the top of a written .nas/.yaml file."""
    return "".join(f"# {line}\n" for line in text.splitlines())


def prepare_space(space: Model, section: Any) -> Model:
    """The space as searched: `section.params` overrides, then the search size (`scale-up` to
    `section.cells` / `section.channels`; None keeps the space's own)."""
    from nasc.frontend import apply_overrides
    from nasc.ir.verify import verify
    from nasc.passes.scale_up import scale_up

    out = apply_overrides(space, dict(section.params))
    out = scale_up(out, cells=section.cells, channels=section.channels)
    raise_all(verify(out))
    return out


def start_space(space_path: str | Path, config: Any, section: Any, run: RunDir) -> tuple[Model, str]:
    """Load and prepare the space of a new run; record it as `space.nas` (read back on resume).

    Returns the prepared space and the source path recorded in the config.
    """
    from nasc.frontend import load_model
    from nasc.ir.printer import print_model

    source = config.run.model or str(space_path)  # the CLI records the resolved path
    space = prepare_space(load_model(space_path), section)
    if run.enabled:
        atomic_write_text(run.root / "space.nas",
                          comment_header(f"the space searched, from {source}") + print_model(space))
    run.info(f"space: {source}")
    return space, source


def reopen_run(run_dir: str | Path, device: str | None, command: str) -> tuple[RunDir, Any, Model, str]:
    """Reopen a search run for `--resume`: its run dir, validated config, space and source.

    `command` names the search (`nasc search darts`) in the error for a folder that is not one.
    """
    from nasc.frontend import load_model
    from nasc.train.config import validate_config

    run = RunDir.open(run_dir)
    raw = run.read_config()
    if device is not None:
        raw.setdefault("run", {})["device"] = device
    config = validate_config(raw)
    space_file = run.root / "space.nas"
    if not space_file.is_file():
        raise CheckpointError(f"`{run.root}` has no space.nas: not a search run",
                              hint=f"resume a folder written by `{command}`")
    return run, config, load_model(space_file), config.run.model or str(space_file)
