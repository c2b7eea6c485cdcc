"""`nasc search random SPACE.nas`: random search (train N sampled networks briefly, keep the best).

    nasc search random examples/darts_space.nas                     # toy run on the built-in data
    nasc search random examples/darts_space.nas --trials 8 --executor ray
    nasc search random space.nas --full --data cifar10:./data --out runs/r1
    nasc search random --resume runs/search-random-20240101-120000  # continue a killed search

Adds its command to the `nasc search` group of `nasc.cli.cmd_search`; the library emits progress
events, rendered here like the DARTS command's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from nasc.cli.cmd_search import search_app
from nasc.cli.runs import flag_values, load_run_config, refuse_with_resume, run_with_progress
from nasc.errors import ConfigError


@search_app.command("random")
def random_cmd(
    space: Optional[Path] = typer.Argument(None, help="the search space (.nas / .yaml); "
                                                      "optional with --resume"),
    trials: Optional[int] = typer.Option(None, "--trials", min=1,
                                         help="architectures to train (default: the config's)"),
    executor: Optional[str] = typer.Option(None, "--executor", help="inline | ray"),
    config: Optional[Path] = typer.Option(None, "--config", help="experiment config (default: the "
                                                                 "shipped search_random.yaml)"),
    sets: list[str] = typer.Option([], "--set", help="override a config key: SECTION.KEY=VALUE"),
    full: bool = typer.Option(False, "--full", help="paper-ish settings instead of the toy ones"),
    out: Optional[Path] = typer.Option(None, "--out", help="run directory (default runs/NAME-TIME)"),
    resume: Optional[Path] = typer.Option(None, "--resume", help="continue the run in this folder"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed"),
    data: Optional[str] = typer.Option(None, "--data", help="builtin | cifar10:PATH | cifar100:PATH "
                                                            "| mnist:PATH | folder:PATH"),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N"),
) -> None:
    """Random search: sample distinct networks of the space, train each briefly, keep the best."""
    result = run_with_progress(lambda r: _search(space, trials, executor, config, sets, full, out,
                                                 resume, seed, data, device, r))
    best = result.trials[result.best_index]
    typer.echo(f"best: trial {best['trial'] + 1} of {len(result.trials)}, "
               f"val_top1 {100 * best['val_top1']:.2f}%, {best['macs']} MACs"
               + (f", {best['latency_ms']:.2f} ms" if "latency_ms" in best else ""))
    typer.echo(f"genotype: {best['genotype']}")
    typer.echo(f"run dir: {result.run.root}")
    for name in ("final.nas", "final.yaml", "trials.jsonl", "pareto.json"):
        if name in result.paths:
            typer.echo(f"  {name:<13} {result.paths[name]}")


def _search(space: Path | None, trials: int | None, executor: str | None, config: Path | None,
            sets: list[str], full: bool, out: Path | None, resume: Path | None, seed: int | None,
            data: str | None, device: str | None, renderer: Any) -> Any:
    from nasc.search.random_driver import resume_random, search_random
    from nasc.search.runs import require_single_process
    from nasc.train.rundir import RunDir

    require_single_process("nasc search random")  # before a run folder is made
    if resume is not None:
        refuse_with_resume({"SPACE": space, "--trials": trials, "--executor": executor,
                            "--config": config, "--set": sets, "--full": full, "--out": out,
                            "--seed": seed, "--data": data}, "search")
        return resume_random(resume, events=renderer, device=device)
    if space is None:
        raise ConfigError("missing SPACE argument", key="SPACE",
                          hint="nasc search random examples/darts_space.nas")
    if executor is not None and executor not in ("inline", "ray"):
        raise ConfigError(f"unknown executor `{executor}`", key="--executor",
                          hint="use inline or ray")
    values = flag_values({"run.model": str(space.resolve()), "data.dataset": data,
                          "run.seed": seed, "run.device": device, "search.random.trials": trials,
                          "search.random.executor": executor})
    cfg = load_run_config(config, "search_random.yaml", sets, full, values)
    run = RunDir.create(cfg.run.name, out=out)
    run.write_config(cfg)
    return search_random(space, cfg, run=run, events=renderer)


def register(app: typer.Typer) -> None:
    """The command lives in the `nasc search` group, which `cmd_search` registers on `app`."""
