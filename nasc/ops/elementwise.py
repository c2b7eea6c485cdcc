"""Primitives without weights or windows: `relu`, `identity`, `zero`, `sum`, `concat`."""
from __future__ import annotations

from typing import TYPE_CHECKING

from nasc.errors import ShapeError
from nasc.ops.common import PosInt, one_input
from nasc.ops.pool import NoParams
from nasc.ops.registry import Primitive, PrimParams, Shape

if TYPE_CHECKING:
    from torch import nn


class ReLU(Primitive):
    """Rectified linear unit (`nn.ReLU(inplace=False)`)."""

    name = "relu"
    Params = NoParams

    def infer_shape(self, p: NoParams, inputs: tuple[Shape, ...]) -> Shape:
        return one_input(self.name, inputs)

    def build(self, p: NoParams, inputs: tuple[Shape, ...]) -> "nn.Module":
        from torch import nn

        return nn.ReLU(inplace=False)


class Identity(Primitive):
    """The input itself; allocates nothing (`aliases_input`)."""

    name = "identity"
    Params = NoParams
    aliases_input = True

    def infer_shape(self, p: NoParams, inputs: tuple[Shape, ...]) -> Shape:
        return one_input(self.name, inputs)

    def build(self, p: NoParams, inputs: tuple[Shape, ...]) -> "nn.Module":
        from torch import nn

        return nn.Identity()


class ZeroParams(PrimParams):
    """`zero`: the output is the input subsampled by `stride` (`x[:, :, ::s, ::s]`), all zeros."""

    stride: PosInt = 1


class Zero(Primitive):
    """DARTS' `none` op: zeros of the strided shape `(C, ceil(H / s), ceil(W / s))`; no arithmetic."""

    name = "zero"
    Params = ZeroParams

    def infer_shape(self, p: ZeroParams, inputs: tuple[Shape, ...]) -> Shape:
        c, h, w = one_input(self.name, inputs)
        return (c, -(-h // p.stride), -(-w // p.stride))

    def build(self, p: ZeroParams, inputs: tuple[Shape, ...]) -> "nn.Module":
        from nasc.ops.modules import Zero as ZeroModule

        return ZeroModule(p.stride)


def _need_inputs(op: str, inputs: tuple[Shape, ...]) -> None:
    if not inputs:
        raise ShapeError(f"{op} needs at least one input", hint=f"give `{op}` one or more states")


class Sum(Primitive):
    """Element-wise sum of one or more inputs of equal shape."""

    name = "sum"
    Params = NoParams
    arity = None

    def infer_shape(self, p: NoParams, inputs: tuple[Shape, ...]) -> Shape:
        _need_inputs(self.name, inputs)
        for i, s in enumerate(inputs[1:], start=1):
            if s != inputs[0]:
                raise ShapeError(f"sum: input {i} has shape {s} but input 0 has {inputs[0]}",
                                 hint="summed tensors must have equal shapes")
        return inputs[0]

    def build(self, p: NoParams, inputs: tuple[Shape, ...]) -> "nn.Module":
        from nasc.ops.modules import Sum as SumModule

        return SumModule()


class Concat(Primitive):
    """Channel concatenation of one or more inputs with equal height and width."""

    name = "concat"
    Params = NoParams
    arity = None

    def infer_shape(self, p: NoParams, inputs: tuple[Shape, ...]) -> Shape:
        _need_inputs(self.name, inputs)
        for i, s in enumerate(inputs[1:], start=1):
            if s[1:] != inputs[0][1:]:
                raise ShapeError(f"concat: input {i} is {s[1]}x{s[2]} but input 0 is "
                                 f"{inputs[0][1]}x{inputs[0][2]}",
                                 hint="concatenated tensors must have equal height and width")
        return (sum(s[0] for s in inputs), inputs[0][1], inputs[0][2])

    def build(self, p: NoParams, inputs: tuple[Shape, ...]) -> "nn.Module":
        from nasc.ops.modules import Concat as ConcatModule

        return ConcatModule()
