"""Batched, vectorised augmentation on the training device, driven by a `torch.Generator`.

Usage:
    from nasc.train.augment import Augment
    aug = Augment(crop_padding=4, flip=True, cutout=16)
    g = torch.Generator(device=x.device).manual_seed(0)
    x = aug.geometric(x_uint8, g)          # random crop with zero padding, horizontal flip
    x = aug.erase(normalise(x), g)         # cutout, after normalisation (as DARTS does)

Every function draws a fixed number of random values per batch whatever the data, so a generator
state saved between batches reproduces the following batches exactly. There are no Python loops
over samples: per-sample offsets become index tensors.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def random_crop(x: Tensor, padding: int, g: torch.Generator) -> Tensor:
    """Pad (N, C, H, W) by `padding` zeros on each side and crop (H, W) at a random offset per sample."""
    if padding <= 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=g, device=x.device)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=g, device=x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (N,1,H,1)
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (N,1,1,W)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_flip(x: Tensor, g: torch.Generator) -> Tensor:
    """Mirror each sample left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], generator=g, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def cutout(x: Tensor, length: int, g: torch.Generator) -> Tensor:
    """Zero a `length` x `length` square (clipped at the border) at a random centre per sample."""
    if length <= 0:
        return x
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n,), generator=g, device=x.device)
    cx = torch.randint(0, w, (n,), generator=g, device=x.device)
    half = length // 2
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    in_y = (ys >= (cy - half).clamp(0, h)[:, None]) & (ys < (cy + half).clamp(0, h)[:, None])
    in_x = (xs >= (cx - half).clamp(0, w)[:, None]) & (xs < (cx + half).clamp(0, w)[:, None])
    hole = in_y[:, :, None] & in_x[:, None, :]  # (N, H, W)
    return x.masked_fill(hole[:, None], 0)


@dataclass(frozen=True)
class Augment:
    """The training-time augmentation recipe (DARTS: crop 4, flip, cutout 16)."""

    crop_padding: int = 0
    flip: bool = False
    cutout: int = 0

    @property
    def enabled(self) -> bool:
        """Whether this recipe changes anything."""
        return self.crop_padding > 0 or self.flip or self.cutout > 0

    def geometric(self, x: Tensor, g: torch.Generator) -> Tensor:
        """Crop and flip (any dtype; applied to the raw uint8 images, zero = black padding)."""
        x = random_crop(x, self.crop_padding, g)
        return random_flip(x, g) if self.flip else x

    def erase(self, x: Tensor, g: torch.Generator) -> Tensor:
        """Cutout (applied after normalisation, so the hole is the dataset mean)."""
        return cutout(x, self.cutout, g)
