"""`nasc search ALGO SPACE.nas`: architecture search; `darts` lives here.

    nasc search darts examples/darts_space.nas                    # toy run on the built-in data
    nasc search darts examples/darts_space.nas --full --data cifar10:./data --second-order
    nasc search darts space.nas --set trainer.epochs=5 --set search.darts.channels=8 --out runs/s1
    nasc search darts --resume runs/search-darts-20240101-120000  # continue a killed search

Other search algorithms add their commands to `search_app` (`nasc search random ...`).
The library emits progress events; this module renders them (rich on a terminal, plain lines
otherwise) and prints where the outputs are.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from nasc.cli.runs import flag_values, load_run_config, refuse_with_resume, run_with_progress
from nasc.errors import ConfigError

search_app = typer.Typer(name="search", help="Search an architecture in a search space.",
                         no_args_is_help=True, add_completion=False)


@search_app.command("darts")
def darts_cmd(
    space: Optional[Path] = typer.Argument(None, help="the search space (.nas / .yaml); "
                                                      "optional with --resume"),
    config: Optional[Path] = typer.Option(None, "--config", help="experiment config (default: the "
                                                                 "shipped search_darts.yaml)"),
    sets: list[str] = typer.Option([], "--set", help="override a config key: SECTION.KEY=VALUE"),
    full: bool = typer.Option(False, "--full", help="the paper's settings (C=16, 8 cells, 50 epochs, "
                                                    "batch 64) instead of the toy ones"),
    out: Optional[Path] = typer.Option(None, "--out", help="run directory (default runs/NAME-TIME)"),
    resume: Optional[Path] = typer.Option(None, "--resume", help="continue the run in this folder"),
    order: Optional[bool] = typer.Option(None, "--first-order/--second-order",
                                         help="architecture gradient (default: the config's)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed"),
    data: Optional[str] = typer.Option(None, "--data", help="builtin | cifar10:PATH | cifar100:PATH "
                                                            "| mnist:PATH | folder:PATH"),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N"),
) -> None:
    """DARTS: train a supernet with architecture weights, derive the discrete network."""
    order_name = None if order is None else ("first" if order else "second")
    result = run_with_progress(lambda r: _search(space, config, sets, full, out, resume, order_name,
                                                 seed, data, device, r))
    typer.echo(f"genotype: {result.genotype}")
    typer.echo(f"run dir: {result.run.root}")
    for name in ("final.nas", "final.yaml", "genotype.txt", "alphas.jsonl", "cells.svg"):
        if name in result.paths:
            typer.echo(f"  {name:<13} {result.paths[name]}")
    typer.echo(f"next: {_next_step(result)}")


def _next_step(result: Any) -> str:
    """The compile-and-train commands for the derived network: toy-sized (5 cells, C=8, a few
    minutes on a CPU) after a search on the built-in data, the paper's evaluation size otherwise."""
    raw = result.run.read_config() if result.run.enabled else {}
    toy = str((raw.get("data") or {}).get("dataset", "builtin")) == "builtin"
    size, train = ("--cells 5 --channels 8", "") if toy else ("--cells 20 --channels 36", " --full")
    final = result.paths.get("final.nas", "final.nas")
    return (f"nasc compile {final} -o model.pt {size} --aux --drop-path && "
            f"nasc train model.pt{train}")


def _search(space: Path | None, config: Path | None, sets: list[str], full: bool,
            out: Path | None, resume: Path | None, order: str | None, seed: int | None,
            data: str | None, device: str | None, renderer: Any) -> Any:
    from nasc.search.driver import resume_darts, search_darts
    from nasc.search.runs import require_single_process
    from nasc.train.rundir import RunDir

    require_single_process("nasc search darts")  # before a run folder is made
    if resume is not None:
        refuse_with_resume({"SPACE": space, "--config": config, "--set": sets, "--full": full,
                            "--out": out, "--seed": seed, "--first-order/--second-order": order,
                            "--data": data}, "search")
        return resume_darts(resume, events=renderer, device=device)
    if space is None:
        raise ConfigError("missing SPACE argument", key="SPACE",
                          hint="nasc search darts examples/darts_space.nas")
    values = flag_values({"data.dataset": data, "run.seed": seed, "search.darts.order": order,
                          "run.device": device, "run.model": str(space.resolve())})
    cfg = load_run_config(config, "search_darts.yaml", sets, full, values)
    run = RunDir.create(cfg.run.name, out=out)
    run.write_config(cfg)
    return search_darts(space, cfg, run=run, events=renderer)


def register(app: typer.Typer) -> None:
    """Register the `nasc search` command group."""
    app.add_typer(search_app, name="search")
