"""`nasc train MODEL.pt`: train a compiled model with the DARTS evaluation recipe.

    nasc train model.pt                                   # toy run on the built-in dataset
    nasc train model.pt --data cifar10:./data --full      # the paper's 600-epoch run
    nasc train model.pt --epochs 20 --set optimizer.lr=0.05 --amp --out runs/mine
    nasc train --resume runs/train-model-20240101-120000  # continue a killed run
    torchrun --nproc_per_node 2 -m nasc train model.pt     # DDP (gloo on CPU, nccl on GPUs)

Writes a run directory (config.yaml, log.txt, log.jsonl, metrics.jsonl, tb/, checkpoints/) and
the trained model as `RUN/model.pt` (same format as `nasc compile`, loadable with `nasc.load`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from nasc import api
from nasc.cli.render import fail
from nasc.cli.runs import flag_values, refuse_with_resume
from nasc.errors import NascError


def register(app: typer.Typer) -> None:
    """Register `nasc train`."""

    @app.command("train")
    def train_cmd(
        model: Optional[Path] = typer.Argument(
            None, help="compiled model file (`nasc compile ... -o model.pt`); optional with --resume"),
        data: Optional[str] = typer.Option(
            None, "--data", help="builtin | cifar10:PATH | cifar100:PATH | mnist:PATH | "
                                 "fashion_mnist:PATH | folder:PATH"),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="number of epochs"),
        config: Optional[Path] = typer.Option(
            None, "--config", help="experiment config (default: the shipped train.yaml)"),
        sets: list[str] = typer.Option([], "--set", help="override a config key: SECTION.KEY=VALUE"),
        out: Optional[Path] = typer.Option(None, "--out", help="run directory (default runs/NAME-TIME)"),
        resume: Optional[Path] = typer.Option(None, "--resume", help="continue the run in this folder"),
        amp: bool = typer.Option(False, "--amp", help="mixed precision (bf16 on CPU, fp16/bf16 on GPU)"),
        checkpoint_cells: bool = typer.Option(False, "--checkpoint-cells", help="activation checkpointing "
                                              "per cell: less memory, slower (config `trainer.checkpoint_cells`)"),
        seed: Optional[int] = typer.Option(None, "--seed", help="random seed"),
        full: bool = typer.Option(False, "--full", help="the paper's settings instead of the toy ones"),
        device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N"),
        max_memory: Optional[str] = typer.Option(
            None, "--max-memory", help="memory training may need, e.g. 64G (config `run.max_memory`; "
                                       "default: the machine's)"),
    ) -> None:
        """Train a compiled model; report test accuracy; write a run dir and the trained model."""
        from nasc.cli.progress import ProgressRenderer

        renderer = ProgressRenderer()
        started: list[Path] = []  # the run dir, once there is one (for the Ctrl-C message)
        try:
            if resume is not None:
                refuse_with_resume({"--data": data, "--epochs": epochs, "--config": config, "--set": sets,
                                    "--out": out, "--amp": amp, "--seed": seed, "--full": full,
                                    "--checkpoint-cells": checkpoint_cells,
                                    "--max-memory": max_memory})
            values = flag_values({"data.dataset": data, "trainer.epochs": epochs,
                                  "trainer.amp": True if amp else None, "run.seed": seed,
                                  "trainer.checkpoint_cells": True if checkpoint_cells else None,
                                  "run.max_memory": max_memory})
            result = api.train(model, config=config, sets=sets, values=values, full=full, out=out,
                               resume=resume, device=device, events=renderer, on_run_dir=started.append)
        except NascError as err:
            renderer.close()
            raise fail(err) from None
        except KeyboardInterrupt:
            renderer.close()
            where = started[-1] if started else None
            typer.echo("interrupted" + (f"; continue with: nasc train --resume {where}" if where else ""),
                       err=True)
            raise typer.Exit(code=130) from None
        renderer.close()
        if result is None:  # a non-main DDP process
            return
        test = result.test
        typer.echo(f"test top-1 {100 * test['top1']:.2f}%  top-5 {100 * test['top5']:.2f}%  "
                   f"loss {test['loss']:.4f}")
        typer.echo(f"run dir: {result.run_dir}")
        typer.echo(f"trained model: {result.model_path}")
