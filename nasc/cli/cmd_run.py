"""`nasc run ALGO SPACE`: search, then evaluate, as one resumable experiment.

    nasc run darts examples/darts_space.nas                  # toy: a few minutes on a CPU
    nasc run darts examples/darts_space.nas --full --data cifar10:./data
    nasc run random examples/darts_space.nas --cells 8 --channels 16 --out runs/exp1
    nasc run --resume runs/exp1                              # continue a killed experiment
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from nasc.cli.runs import flag_values, refuse_with_resume, run_with_progress
from nasc.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Register `nasc run`."""

    @app.command("run")
    def run_cmd(
        algorithm: Optional[str] = typer.Argument(None, help="the search algorithm (darts, random, "
                                                             "petridish, ...; see `nasc plugins`)"),
        space: Optional[Path] = typer.Argument(None, help="the search space (or seed network)"),
        config: Optional[Path] = typer.Option(None, "--config", help="search config (default: the "
                                                                     "algorithm's shipped one)"),
        sets: list[str] = typer.Option([], "--set", help="override a search config key"),
        full: bool = typer.Option(False, "--full", help="the papers' settings for both phases"),
        cells: Optional[int] = typer.Option(None, "--cells", min=1, help="evaluation cells "
                                            "(default: 5, or 20 with --full)"),
        channels: Optional[int] = typer.Option(None, "--channels", min=1, help="evaluation initial "
                                               "channels (default: 8, or 36 with --full)"),
        eval_config: Optional[Path] = typer.Option(None, "--eval-config", help="training config of "
                                                   "the evaluation (default: train.yaml)"),
        eval_sets: list[str] = typer.Option([], "--eval-set", help="override an evaluation config "
                                                                   "key"),
        seed: Optional[int] = typer.Option(None, "--seed", help="random seed of the search"),
        data: Optional[str] = typer.Option(None, "--data", help="dataset of both phases"),
        out: Optional[Path] = typer.Option(None, "--out", help="experiment folder (default "
                                                               "runs/run-ALGO-TIME)"),
        resume: Optional[Path] = typer.Option(None, "--resume", help="continue this experiment"),
    ) -> None:
        """Search, derive, scale up, compile and train: one experiment with search/ and eval/."""
        from nasc import api

        def job(events: Any) -> Any:
            if resume is not None:
                refuse_with_resume({"ALGO": algorithm, "SPACE": space, "--config": config,
                                    "--set": sets, "--full": full, "--cells": cells,
                                    "--channels": channels, "--eval-config": eval_config,
                                    "--eval-set": eval_sets, "--seed": seed, "--data": data,
                                    "--out": out}, "experiment")
                return api.run_experiment(resume=resume, events=events)
            if algorithm is None or space is None:
                raise ConfigError("missing ALGO and SPACE arguments", key="SPACE",
                                  hint="nasc run darts examples/darts_space.nas")
            values = flag_values({"run.seed": seed, "data.dataset": data})
            eval_values = [f"data.dataset={data}"] if data is not None else []
            return api.run_experiment(algorithm, space, config=config, overrides=sets, full=full,
                                      values=values, cells=cells, channels=channels,
                                      eval_config=eval_config,
                                      eval_overrides=[*eval_sets, *eval_values], out=out,
                                      events=events)

        result = run_with_progress(job)
        s = result.summary
        typer.echo(f"derived: {s['genotype'] or s['final']}")
        typer.echo(f"evaluated at {s['cells']} cells, C={s['channels']}"
                   f"{' with aux' if s['aux'] else ''}: {s['params']:,} params, {s['macs']:,} MACs")
        if s["test_top1"] is not None:
            typer.echo(f"test top-1: {100 * s['test_top1']:.2f}%")
        t = s["seconds"]
        typer.echo(f"time: search {t['search']:.0f} s, compile {t['compile']:.1f} s, "
                   f"eval {t['eval']:.0f} s")
        typer.echo(f"experiment: {result.root}")
        for name, path in result.paths.items():
            typer.echo(f"  {name:<13} {path}")
