"""Learning-rate schedules with linear warmup, as pure functions of training progress.

Usage:
    from nasc.train.schedule import LRSchedule
    sched = LRSchedule(cfg.schedule, epochs=600, steps_per_epoch=521)
    sched.apply(optimizer, epoch=e, step=s)     # sets every param group's lr before step s of epoch e
    sched.factor(epoch=e, step=s)               # the multiplier of the base lr

The lr is a function of the position `(epoch, step)` only, so resuming needs no scheduler state.

- `interval: epoch` (the DARTS recipe, like `CosineAnnealingLR` stepped once per epoch): the lr is
  constant within an epoch and computed from `t = epoch`; cosine reaches `min_lr` at `t = epochs`,
  so epoch 0 uses the base lr and the last epoch uses slightly more than `min_lr`.
- `interval: step`: `t = epoch + step / steps_per_epoch` (fractional epochs), updated every step.
- Warmup: for `t < warmup_epochs` the lr rises linearly from `warmup_start_factor * lr` to `lr`;
  the main schedule then runs over the remaining `epochs - warmup_epochs`.
- `cosine`: `min_lr + (lr - min_lr) * (1 + cos(pi * t' / T')) / 2` with `t' = t - warmup_epochs`
  and `T' = epochs - warmup_epochs`; `step`: `lr * gamma ** (t' // step_size)`; `multistep`:
  `lr * gamma ** (number of milestones <= t)` (milestones are absolute epochs); `constant`: `lr`.
Each param group keeps its own base lr (`initial_lr`); `min_lr` scales with it.
"""
from __future__ import annotations

import math
from typing import Any

import torch


class LRSchedule:
    """A warmup + main schedule over `epochs` epochs of `steps_per_epoch` steps."""

    def __init__(self, cfg: Any, *, epochs: int, steps_per_epoch: int, base_lr: float) -> None:
        self.cfg = cfg
        self.epochs = max(int(epochs), 1)
        self.steps_per_epoch = max(int(steps_per_epoch), 1)
        self.base_lr = float(base_lr)

    def progress(self, epoch: int, step: int) -> float:
        """Training time in epochs at which the lr is evaluated (`t` above)."""
        if self.cfg.interval == "step":
            return epoch + step / self.steps_per_epoch
        return float(epoch)

    def factor(self, epoch: int, step: int = 0) -> float:
        """lr / base lr at `(epoch, step)`."""
        cfg = self.cfg
        t = self.progress(epoch, step)
        warm = float(cfg.warmup_epochs)
        if t < warm:
            return cfg.warmup_start_factor + (1.0 - cfg.warmup_start_factor) * t / warm
        t_main, span = t - warm, max(self.epochs - warm, 1e-12)
        if cfg.name == "cosine":
            floor = cfg.min_lr / self.base_lr
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(t_main / span, 1.0)))
        if cfg.name == "step":
            return cfg.gamma ** int(t_main // cfg.step_size)
        if cfg.name == "multistep":
            return cfg.gamma ** sum(1 for m in cfg.milestones if t >= m)
        return 1.0

    def apply(self, optimizer: torch.optim.Optimizer, epoch: int, step: int = 0) -> float:
        """Set every group's lr for `(epoch, step)`; returns the first group's lr."""
        f = self.factor(epoch, step)
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * f
        return float(optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        """The schedule is stateless; its config is recorded for a consistency check on resume."""
        return {"name": self.cfg.name, "interval": self.cfg.interval, "epochs": self.epochs,
                "steps_per_epoch": self.steps_per_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore (see `state_dict`)."""
