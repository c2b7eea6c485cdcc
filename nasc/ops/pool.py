"""Pooling primitives: `max_pool`, `avg_pool` (DARTS: `count_include_pad=False`), `global_avg_pool`.

nasc's pools default to `stride=1` (unlike torch, whose default stride is the kernel size): in a
cell the stride comes from the context, written explicitly as `stride=stride`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import StrictBool

from nasc.errors import ShapeError
from nasc.ops.common import NonNegIntOrPair, PosIntOrPair, one_input, pair, window_shape
from nasc.ops.registry import Primitive, PrimParams, Shape

if TYPE_CHECKING:
    from torch import nn


class PoolParams(PrimParams):
    """`max_pool`: window `k`, `stride` (default 1), zero `pad`."""

    k: PosIntOrPair
    stride: PosIntOrPair = 1
    pad: NonNegIntOrPair = 0


class AvgPoolParams(PoolParams):
    """`avg_pool`: like `max_pool`; padding is excluded from the average unless `count_include_pad`."""

    count_include_pad: StrictBool = False


def _pool_shape(op: str, p: PoolParams, inputs: tuple[Shape, ...]) -> Shape:
    c, h, w = one_input(op, inputs)
    kk, pp = pair(p.k), pair(p.pad)
    if 2 * pp[0] > kk[0] or 2 * pp[1] > kk[1]:
        # torch refuses this too ("pad should be at most half of kernel size")
        raise ShapeError(f"{op}: pad {pp[0]}x{pp[1]} is more than half the {kk[0]}x{kk[1]} window",
                         hint="use pad <= k // 2")
    ho, wo = window_shape(op, (h, w), p.k, p.stride, p.pad)
    return (c, ho, wo)


class MaxPool(Primitive):
    """Max pooling (`nn.MaxPool2d`)."""

    name = "max_pool"
    Params = PoolParams

    def infer_shape(self, p: PoolParams, inputs: tuple[Shape, ...]) -> Shape:
        return _pool_shape(self.name, p, inputs)

    def build(self, p: PoolParams, inputs: tuple[Shape, ...]) -> "nn.Module":
        from torch import nn

        return nn.MaxPool2d(pair(p.k), stride=pair(p.stride), padding=pair(p.pad))


class AvgPool(Primitive):
    """Average pooling (`nn.AvgPool2d`)."""

    name = "avg_pool"
    Params = AvgPoolParams

    def infer_shape(self, p: AvgPoolParams, inputs: tuple[Shape, ...]) -> Shape:
        return _pool_shape(self.name, p, inputs)

    def build(self, p: AvgPoolParams, inputs: tuple[Shape, ...]) -> "nn.Module":
        from torch import nn

        return nn.AvgPool2d(pair(p.k), stride=pair(p.stride), padding=pair(p.pad),
                            count_include_pad=p.count_include_pad)


class NoParams(PrimParams):
    """A primitive without parameters."""


class GlobalAvgPool(Primitive):
    """Average over all positions: `(C, H, W) -> (C, 1, 1)`."""

    name = "global_avg_pool"
    Params = NoParams

    def infer_shape(self, p: NoParams, inputs: tuple[Shape, ...]) -> Shape:
        c, _, _ = one_input(self.name, inputs)
        return (c, 1, 1)

    def build(self, p: NoParams, inputs: tuple[Shape, ...]) -> "nn.Module":
        from torch import nn

        return nn.AdaptiveAvgPool2d(1)
