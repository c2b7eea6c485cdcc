"""The `bn` primitive: 2-d batch norm (`nn.BatchNorm2d`) over the input's channels."""
from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import StrictBool

from nasc.ops.common import PosFloat, UnitFloat, one_input
from nasc.ops.registry import Primitive, PrimParams, Shape

if TYPE_CHECKING:
    from torch import nn


class BNParams(PrimParams):
    """`bn`: `affine` defaults to the call's `affine` (false in DARTS search cells)."""

    affine: StrictBool
    eps: PosFloat = 1e-5
    momentum: UnitFloat = 0.1


class BatchNorm(Primitive):
    """Batch norm; shape-preserving, `2 * C` parameters when affine, no multiply-adds counted."""

    name = "bn"
    cost = "params 2*C_in when affine, else 0 (running stats are buffers); MACs 0"
    Params = BNParams
    context_defaults = {"affine": "affine"}

    def infer_shape(self, p: BNParams, inputs: tuple[Shape, ...]) -> Shape:
        return one_input(self.name, inputs)

    def param_count(self, p: BNParams, inputs: tuple[Shape, ...]) -> int:
        return 2 * inputs[0][0] if p.affine else 0

    def build(self, p: BNParams, inputs: tuple[Shape, ...]) -> "nn.Module":
        from torch import nn

        return nn.BatchNorm2d(inputs[0][0], eps=p.eps, momentum=p.momentum, affine=p.affine)
