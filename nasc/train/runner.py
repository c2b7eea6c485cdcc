"""One call that trains a model from a validated config: what `nasc train` runs.

Usage:
    from nasc.train.config import load_config
    from nasc.train.rundir import RunDir
    from nasc.train.runner import train_model
    cfg = load_config("examples/configs/train.yaml", overrides=["trainer.epochs=2"])
    run = RunDir.create(cfg.run.name); run.write_config(cfg)
    outcome = train_model(model, cfg, run=run, events=print)
    outcome.test          # {"loss", "top1", "top5"} of the final evaluation
    # a killed run continues with: train_model(model, cfg, run=RunDir.open(path))

It joins a torchrun job if there is one (`nasc.train.distributed`), seeds the global generators,
builds the data on the device, and runs a `Trainer` whose checkpoint is `run/checkpoints/last.pt`;
when that file exists the run resumes from it. The model must already hold its initial weights
(a resumed run replaces them from the checkpoint).
"""
from __future__ import annotations

import platform
import random
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nasc.train.checkpoint import Checkpoint
from nasc.train.data import build_data
from nasc.train.datasets import Dataset
from nasc.train.distributed import DistContext, setup
from nasc.train.events import EventSink, Message, fanout
from nasc.train.rundir import RunDir
from nasc.train.trainer import Callback, FitResult, Trainer


def seed_everything(seed: int) -> None:
    """Seed Python's, torch's (all devices) and, if imported, numpy's global generators."""
    import sys

    random.seed(seed)
    torch.manual_seed(seed)
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(seed % (2**32))


@dataclass
class TrainOutcome:
    """The result of `train_model`."""

    fit: FitResult
    test: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    dist: DistContext = field(default_factory=DistContext)


def train_model(model: nn.Module, config: Any, *, run: RunDir | None = None,
                events: EventSink | None = None, callbacks: tuple[Callback, ...] = (),
                dataset: Dataset | None = None) -> TrainOutcome:
    """Train `model` as `config` says; see the module docstring."""
    dist, device = setup(config.run.device)
    if config.run.threads is not None:
        torch.set_num_threads(config.run.threads)
    seed_everything(config.run.seed + dist.rank)
    if run is not None and not dist.is_main:
        run = RunDir(run.root, enabled=False)
    sink = fanout(run.event_sink if run is not None else None, events) if dist.is_main else None
    # each rank reads its own files: one missing on one node must stop every rank
    data = dist.agree(lambda: build_data(config.data, device=device, seed=config.run.seed,
                                         rank=dist.rank, world_size=dist.world_size,
                                         dataset=dataset))
    if run is not None:
        run.log.add("run", {"name": config.run.name, "seed": config.run.seed, "device": str(device),
                            "torch": torch.__version__, "python": platform.python_version(),
                            "threads": torch.get_num_threads(), "world_size": dist.world_size})
        run.log.add("data", {"dataset": data.dataset.name, "train": len(data.train.data),
                             "test": len(data.test), "classes": data.num_classes,
                             "input_shape": list(data.input_shape)})
    checkpoint = Checkpoint(run.checkpoint_path if run is not None else None,
                            writable=dist.is_main)
    if sink is not None:
        sink(Message(f"data: {data.dataset.name}, {len(data.train.data)} train / {len(data.test)} "
                     f"test images of shape {data.input_shape}, {data.num_classes} classes; "
                     f"device {device}" + (f", {dist.world_size} processes" if dist.enabled else "")))
    trainer = Trainer.from_config(model, config, device=device, checkpoint=checkpoint, run=run,
                                  events=sink, dist=dist, callbacks=callbacks)
    fit = trainer.fit(data.train, data.test)
    test = {k[5:]: v for k, v in fit.metrics.items() if k.startswith("test_")}
    if not test:
        test = trainer.evaluate(data.test)
    if run is not None:
        run.log.add("result", {"test": test, "global_step": fit.global_step})
    return TrainOutcome(fit=fit, test=test, device=str(device), dist=dist)
