"""Tiny models and config helpers shared by the training-backend tests (plain torch modules that
follow the NascNet contract: logits, or `(logits, aux_logits)` in training mode; `drop_path_prob`)."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from nasc.train.config import load_config


class TinyNet(nn.Module):
    """conv-bn-relu x2, an aux head in training mode, and a random drop-path-like branch drop."""

    def __init__(self, classes: int = 10, width: int = 8, aux: bool = True) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU())
        self.branch = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False),
                                    nn.BatchNorm2d(width), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(width, classes)
        self.aux = nn.Linear(width, classes) if aux else None
        self.drop_path_prob = 0.0

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        h = self.stem(x)
        b = self.branch(h)
        if self.training and self.drop_path_prob > 0:
            # per-sample drop of the branch (uses the global torch RNG, as drop path does)
            keep = (torch.rand(x.shape[0], 1, 1, 1) >= self.drop_path_prob).float()
            b = b * keep / (1 - self.drop_path_prob)
        z = self.pool(h + b).flatten(1)
        if self.training and self.aux is not None:
            return self.head(z), self.aux(z)
        return self.head(z)


def tiny_config(**values: Any) -> Any:
    """The default schema config with small data, overridden by dotted `values`."""
    base: dict[str, Any] = {"data.train_size": 160, "data.test_size": 50, "data.batch_size": 16,
                            "trainer.epochs": 2, "trainer.tensorboard": False, "run.device": "cpu"}
    base.update(values)
    return load_config(None, values=base)
