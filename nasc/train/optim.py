"""Optimizers from an `OptimizerSection`: SGD (momentum, nesterov, weight decay), Adam, AdamW.

Usage:
    from nasc.train.optim import build_optimizer
    opt = build_optimizer(model.parameters(), cfg.optimizer)
    alpha_opt = build_optimizer([alpha], darts_cfg.alpha_optimizer)   # any OptimizerSection
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from nasc.errors import ConfigError


def build_optimizer(params: Iterable[Any], cfg: Any) -> torch.optim.Optimizer:
    """A torch optimizer over `params` (tensors or param-group dicts) configured by `cfg`."""
    params = list(params)
    if not params:
        raise ConfigError("the model has no trainable parameters", key="optimizer")
    if cfg.name == "sgd":
        if cfg.nesterov and cfg.momentum <= 0:
            raise ConfigError("nesterov needs momentum > 0", key="optimizer.nesterov")
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                                weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                                 weight_decay=cfg.weight_decay)
    raise ConfigError(f"unknown optimizer `{cfg.name}`", key="optimizer.name")
