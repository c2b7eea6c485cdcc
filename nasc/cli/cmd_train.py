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
from typing import Any, Optional

import typer

from nasc.cli.render import fail
from nasc.cli.runs import flag_values, load_run_config, refuse_with_resume
from nasc.errors import ConfigError, NascError


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
        seed: Optional[int] = typer.Option(None, "--seed", help="random seed"),
        full: bool = typer.Option(False, "--full", help="the paper's settings instead of the toy ones"),
        device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N"),
    ) -> None:
        """Train a compiled model; report test accuracy; write a run dir and the trained model."""
        from nasc.cli.progress import ProgressRenderer

        renderer = ProgressRenderer()
        started: dict[str, Any] = {}  # the run dir, once there is one (for the Ctrl-C message)
        try:
            outcome, run, model_path = _train(model, data, epochs, config, sets, out, resume, amp,
                                              seed, full, device, renderer, started)
        except NascError as err:
            renderer.close()
            raise fail(err) from None
        except KeyboardInterrupt:
            renderer.close()
            where = started.get("run")
            typer.echo("interrupted" + (f"; continue with: nasc train --resume {where}" if where else ""),
                       err=True)
            raise typer.Exit(code=130) from None
        renderer.close()
        if outcome is None:  # a non-main DDP process
            return
        test = outcome.test
        typer.echo(f"test top-1 {100 * test['top1']:.2f}%  top-5 {100 * test['top5']:.2f}%  "
                   f"loss {test['loss']:.4f}")
        typer.echo(f"run dir: {run.root}")
        typer.echo(f"trained model: {model_path}")


def _train(model: Path | None, data: str | None, epochs: int | None, config: Path | None,
           sets: list[str], out: Path | None, resume: Path | None, amp: bool, seed: int | None,
           full: bool, device: str | None, renderer: Any,
           started: dict[str, Any]) -> tuple[Any, Any, Path | None]:
    """Resolve the config and run dir, load the model, train, save; returns (outcome, run, path)."""
    from nasc.lower.artifact import load_module, read_artifact, save_artifact
    from nasc.train.config import validate_config
    from nasc.train.distributed import setup
    from nasc.train.rundir import RunDir
    from nasc.train.runner import train_model

    values = flag_values({"data.dataset": data, "trainer.epochs": epochs,
                          "trainer.amp": True if amp else None, "run.seed": seed,
                          "run.device": device})
    name = ""
    if resume is not None:
        refuse_with_resume({"--data": data, "--epochs": epochs, "--config": config, "--set": sets,
                            "--out": out, "--amp": amp, "--seed": seed, "--full": full})
        run = RunDir.open(resume)
        raw = run.read_config()
        if device is not None:  # the device may change (e.g. resume a GPU run on the CPU)
            raw.setdefault("run", {})["device"] = device
        cfg = validate_config(raw)
        recorded = cfg.run.model
        if model is None:
            if recorded is None:
                raise ConfigError("the run does not record its model file", key="run.model",
                                  hint="pass the model file: nasc train MODEL.pt --resume RUN")
            model = Path(recorded)
    else:
        if model is None:
            raise ConfigError("missing MODEL argument", key="MODEL",
                              hint="nasc train model.pt (compile one with `nasc compile`)")
        values["run.model"] = str(model.resolve())
        cfg = load_run_config(config, "train.yaml", sets, full, values)
        name = cfg.run.name if cfg.run.name != "train" else f"train-{model.stem}"
        run = None  # created below, once the model is known to load
    artifact = read_artifact(model)
    module = load_module(model)
    dist, _ = setup(cfg.run.device)
    if run is None:
        def create() -> RunDir:
            made = RunDir.create(name, out=out, enabled=dist.is_main)
            made.write_config(cfg)
            return made

        # only rank 0 checks and writes the folder: if that fails, every rank must stop
        run = dist.agree(create)
        # every rank uses rank 0's folder (their clocks may name it a second apart)
        root = dist.all_gather_object(str(run.root))[0]
        if not dist.is_main:
            run = RunDir(Path(root), enabled=False)
    elif not dist.is_main:
        run = RunDir(run.root, enabled=False)
    started["run"] = run.root
    run.info(f"model: {model}")
    outcome = train_model(module, cfg, run=run, events=renderer)
    if not dist.is_main:
        dist.shutdown()
        return None, run, None
    out_path = run.root / "model.pt"
    meta = dict(artifact.meta)
    meta["trained"] = {"run": str(run.root), "dataset": cfg.data.dataset,
                       "epochs": cfg.trainer.epochs, "seed": cfg.run.seed,
                       "test_top1": outcome.test["top1"], "test_loss": outcome.test["loss"]}
    save_artifact(out_path, artifact.model, module, artifact.overrides, meta)
    run.info(f"trained model written to {out_path}")
    run.close()
    dist.shutdown()
    return outcome, run, out_path
