"""The built-in synthetic image-classification dataset: no download, seeded, deterministic.

Usage:
    from nasc.train.synthetic import make_synthetic, CLASS_NAMES
    images, labels = make_synthetic(5000, seed=0)    # uint8 (5000, 3, 32, 32), int64 (5000,)

Each 32x32 RGB image holds one object whose *kind* is the label, drawn at a random position, size,
small rotation and random colours over a random colour-gradient background, with pixel noise and
distractor rectangles and bars, over a faint background texture. The ten kinds are vertical,
diagonal (either diagonal) and horizontal stripes, a dot lattice, a checkerboard, a solid disc, a
ring, a plus, an X and a square frame; the set is closed under horizontal flips, so the DARTS
augmentation never changes a label. Textures are cut to a disc, so "solid disc" and "striped
disc" differ only in their interior: orientation and texture must be read locally and anywhere in
the image, which favours convolutions over MLPs (translation) and rewards receptive field and
depth. Colours carry no label information.

Generation is vectorised torch on the CPU with a `torch.Generator`, in chunks of fixed size, so the
same `(n, seed)` gives the same bytes on every machine and device.
"""
from __future__ import annotations

import hashlib
import math

import torch
from torch import Tensor

CLASS_NAMES: tuple[str, ...] = (
    "stripes_vertical", "stripes_diagonal", "stripes_horizontal", "dots", "checkerboard",
    "disc", "ring", "plus", "cross", "frame",
)
NUM_CLASSES = len(CLASS_NAMES)
_CHUNK = 1024
_MAX_DISTRACTORS = 3
# Difficulty knobs (object radius range in pixels, colour contrast range, pixel noise sigma).
# The wide radius range is deliberate: large objects give a signal a few dozen steps start to learn
# (a toy DARTS search on a CPU must leave chance within its minute; with radii 4-7.5 it stayed
# at chance for hundreds of steps), small ones and the distractors keep a tail that separates
# architectures (see benchmarks/builtin_difficulty.py).
RADIUS = (6.0, 13.0)
CONTRAST = (0.2, 0.8)
NOISE = 0.05


def derive_seed(seed: int, tag: str) -> int:
    """A 63-bit seed for stream `tag` derived from `seed` (stable across platforms)."""
    digest = hashlib.sha256(f"{seed}/{tag}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _uniform(g: torch.Generator, shape: tuple[int, ...], lo: float, hi: float) -> Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=g)


def _soft(d: Tensor) -> Tensor:
    """Anti-aliased inside test: 1 inside (d < 0), 0 outside, linear over one pixel."""
    return (0.5 - d).clamp(0.0, 1.0)


def _pattern(kind: int, u: Tensor, v: Tensor, radius: Tensor, period: Tensor, phase: Tensor,
             variant: Tensor) -> Tensor:
    """Coverage in [0, 1] of object `kind` at local coordinates (u, v) (pixels from its centre).

    `variant` (0/1 per sample) picks which diagonal the diagonal stripes take, so that the class
    set is invariant under horizontal flips (a flip maps one diagonal onto the other).
    """
    r = torch.sqrt(u * u + v * v)
    R = radius[:, None, None]
    if kind in (0, 1, 2):  # stripes in a disc: vertical, diagonal (either), horizontal
        theta = {0: torch.zeros_like(radius), 2: torch.full_like(radius, math.pi / 2),
                 1: math.pi / 4 + variant.float() * math.pi / 2}[kind][:, None, None]
        t = u * torch.cos(theta) + v * torch.sin(theta)
        wave = torch.sin(2 * math.pi * t / period[:, None, None] + phase[:, None, None])
        return (0.5 + 1.5 * wave).clamp(0.0, 1.0) * _soft(r - R)
    if kind == 3:  # a lattice of dots in a disc
        p = period[:, None, None] * 1.4
        off = phase[:, None, None] / (2 * math.pi) * p
        du = torch.remainder(u + off, p) - p / 2
        dv = torch.remainder(v + off, p) - p / 2
        return _soft(torch.sqrt(du * du + dv * dv) - 0.3 * p) * _soft(r - R)
    if kind == 4:  # checkerboard in a disc
        p = period[:, None, None] * 1.3
        wave = torch.sin(2 * math.pi * u / p + phase[:, None, None]) * torch.sin(2 * math.pi * v / p)
        return (0.5 + 2.0 * wave).clamp(0.0, 1.0) * _soft(r - R)
    if kind == 5:  # solid disc
        return _soft(r - 0.85 * R)
    if kind == 6:  # ring
        return _soft((r - 0.7 * R).abs() - 0.2 * R)
    w = (0.2 * R).clamp(min=1.0)
    if kind == 7:  # plus
        bar = torch.minimum(u.abs(), v.abs()) - w
        return _soft(bar) * _soft(torch.maximum(u.abs(), v.abs()) - R)
    if kind == 8:  # X
        diag = torch.minimum((u - v).abs(), (u + v).abs()) / math.sqrt(2.0) - w
        return _soft(diag) * _soft(torch.maximum(u.abs(), v.abs()) - 0.8 * R)
    # square frame
    box = torch.maximum(u.abs(), v.abs())
    return _soft((box - 0.75 * R).abs() - w)


def _render_chunk(labels: Tensor, g: torch.Generator, size: int) -> Tensor:
    """Float images in [0, 1] of shape (n, 3, size, size) for `labels`."""
    n = labels.shape[0]
    coords = torch.arange(size, dtype=torch.float32)
    yy = coords[None, :, None].expand(n, size, size)
    xx = coords[None, None, :].expand(n, size, size)

    # Background: a random colour with a linear gradient in a random direction and a faint
    # stripe texture of random orientation (so stripes alone do not give the class away).
    bg = _uniform(g, (n, 3), 0.1, 0.9)
    grad_dir = _uniform(g, (n,), 0.0, 2 * math.pi)
    grad_amp = _uniform(g, (n, 3), -0.25, 0.25)
    ramp = ((xx - size / 2) * torch.cos(grad_dir)[:, None, None]
            + (yy - size / 2) * torch.sin(grad_dir)[:, None, None]) / size
    tex_dir = _uniform(g, (n,), 0.0, math.pi)
    tex_period = _uniform(g, (n,), 3.0, 6.0)
    tex_amp = _uniform(g, (n,), 0.0, 0.12)
    tex = torch.sin(2 * math.pi * ((xx * torch.cos(tex_dir)[:, None, None]
                                    + yy * torch.sin(tex_dir)[:, None, None])
                                   / tex_period[:, None, None]))
    img = (bg[:, :, None, None] + grad_amp[:, :, None, None] * ramp[:, None]
           + (tex_amp[:, None, None] * tex)[:, None])

    # The object: position, size, rotation jitter, texture period/phase, a contrasting colour.
    radius = _uniform(g, (n,), RADIUS[0], RADIUS[1])
    cx = _uniform(g, (n,), 0.0, 1.0) * (size - 2 * radius) + radius
    cy = _uniform(g, (n,), 0.0, 1.0) * (size - 2 * radius) + radius
    rot = _uniform(g, (n,), -0.25, 0.25)
    period = _uniform(g, (n,), 3.2, 5.5)
    phase = _uniform(g, (n,), 0.0, 2 * math.pi)
    variant = torch.randint(0, 2, (n,), generator=g)
    shift = _uniform(g, (n, 3), CONTRAST[0], CONTRAST[1])
    fg = torch.remainder(bg + shift, 1.0)
    du = xx - cx[:, None, None]
    dv = yy - cy[:, None, None]
    cos_r, sin_r = torch.cos(rot)[:, None, None], torch.sin(rot)[:, None, None]
    u = cos_r * du + sin_r * dv
    v = -sin_r * du + cos_r * dv
    cover = torch.zeros(n, size, size)
    for kind in range(NUM_CLASSES):
        idx = (labels == kind).nonzero().squeeze(1)
        if idx.numel():
            cover[idx] = _pattern(kind, u[idx], v[idx], radius[idx], period[idx], phase[idx],
                                  variant[idx])
    img = img * (1 - cover[:, None]) + fg[:, :, None, None] * cover[:, None]

    # Distractors: one to three solid rectangles and one to three thin bars of random colour and
    # orientation, anywhere (they may occlude the object).
    count = torch.randint(1, _MAX_DISTRACTORS + 1, (n,), generator=g)
    for k in range(_MAX_DISTRACTORS):
        x0 = _uniform(g, (n,), 0.0, size)[:, None, None]
        y0 = _uniform(g, (n,), 0.0, size)[:, None, None]
        half_w = _uniform(g, (n,), 1.0, 3.0)[:, None, None]
        half_h = _uniform(g, (n,), 1.0, 3.0)[:, None, None]
        colour = _uniform(g, (n, 3), 0.0, 1.0)
        inside = _soft(torch.maximum((xx - x0).abs() - half_w, (yy - y0).abs() - half_h))
        inside = inside * (k < count).float()[:, None, None]
        img = img * (1 - inside[:, None]) + colour[:, :, None, None] * inside[:, None]
    bars = torch.randint(1, _MAX_DISTRACTORS + 1, (n,), generator=g)
    for k in range(_MAX_DISTRACTORS):
        x0 = _uniform(g, (n,), 0.0, size)[:, None, None]
        y0 = _uniform(g, (n,), 0.0, size)[:, None, None]
        angle = _uniform(g, (n,), 0.0, math.pi)[:, None, None]
        length = _uniform(g, (n,), 2.0, 5.0)[:, None, None]
        colour = _uniform(g, (n, 3), 0.0, 1.0)
        along = (xx - x0) * torch.cos(angle) + (yy - y0) * torch.sin(angle)
        across = -(xx - x0) * torch.sin(angle) + (yy - y0) * torch.cos(angle)
        inside = _soft(torch.maximum(along.abs() - length, across.abs() - 0.6))
        inside = inside * (k < bars).float()[:, None, None]
        img = img * (1 - inside[:, None]) + colour[:, :, None, None] * inside[:, None]

    img = img + NOISE * torch.randn(img.shape, generator=g)
    return img.clamp(0.0, 1.0)


def make_synthetic(n: int, seed: int, *, size: int = 32) -> tuple[Tensor, Tensor]:
    """`n` images (uint8, (n, 3, size, size)) and labels (int64, balanced over 10 classes)."""
    if n < 1:
        raise ValueError("n must be positive")
    g = torch.Generator().manual_seed(derive_seed(seed, "synthetic"))
    labels = (torch.arange(n) % NUM_CLASSES)[torch.randperm(n, generator=g)]
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    threads = torch.get_num_threads()
    # Small elementwise ops gain nothing from threads, and on a busy machine the thread pool's
    # spinning makes them many times slower; the result does not depend on it.
    torch.set_num_threads(1)
    try:
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            chunk = _render_chunk(labels[start:stop], g, size)
            images[start:stop] = (chunk * 255.0).round().to(torch.uint8)
    finally:
        torch.set_num_threads(threads)
    return images, labels
