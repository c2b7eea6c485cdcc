"""Primitives with weights: `conv`, `factorized_reduce`, `linear`.

MACs are counted the way `torch.utils.flop_counter.FlopCounterMode` counts them (its flops / 2):
a conv costs `out_elements * (C_in / groups) * kh * kw`, a linear `in * out`; biases are free.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import StrictBool

from nasc.errors import ShapeError
from nasc.ops.common import NonNegIntOrPair, PosInt, PosIntOrPair, one_input, pair, window_shape
from nasc.ops.registry import Primitive, PrimParams, Shape

if TYPE_CHECKING:
    from torch import nn


class ConvParams(PrimParams):
    """`conv`: a 2-d convolution (`nn.Conv2d`, no bias by default as in DARTS)."""

    out: PosInt
    k: PosIntOrPair
    stride: PosIntOrPair = 1
    pad: NonNegIntOrPair = 0
    dilation: PosIntOrPair = 1
    groups: PosInt = 1
    bias: StrictBool = False


class Conv(Primitive):
    """2-d convolution; `out` defaults to the call's `C_out`."""

    name = "conv"
    cost = "params out*(C_in/groups)*kh*kw (+out with bias); MACs C_out*H_out*W_out*(C_in/groups)*kh*kw"
    Params = ConvParams
    context_defaults = {"out": "C_out"}

    def infer_shape(self, p: ConvParams, inputs: tuple[Shape, ...]) -> Shape:
        c, h, w = one_input(self.name, inputs)
        if c % p.groups:
            raise ShapeError(f"conv: {c} input channels are not divisible by groups={p.groups}",
                             hint="groups must divide both the input and the output channels")
        if p.out % p.groups:
            raise ShapeError(f"conv: {p.out} output channels are not divisible by groups={p.groups}",
                             hint="groups must divide both the input and the output channels")
        ho, wo = window_shape(self.name, (h, w), p.k, p.stride, p.pad, p.dilation)
        return (p.out, ho, wo)

    def param_count(self, p: ConvParams, inputs: tuple[Shape, ...]) -> int:
        kh, kw = pair(p.k)
        return p.out * (inputs[0][0] // p.groups) * kh * kw + (p.out if p.bias else 0)

    def macs(self, p: ConvParams, inputs: tuple[Shape, ...], out: Shape) -> int:
        kh, kw = pair(p.k)
        return out[0] * out[1] * out[2] * (inputs[0][0] // p.groups) * kh * kw

    def build(self, p: ConvParams, inputs: tuple[Shape, ...]) -> "nn.Module":
        from torch import nn

        return nn.Conv2d(inputs[0][0], p.out, pair(p.k), stride=pair(p.stride), padding=pair(p.pad),
                         dilation=pair(p.dilation), groups=p.groups, bias=p.bias)


class FactorizedReduceParams(PrimParams):
    """`factorized_reduce`: DARTS' halving op (ReLU, two shifted 1x1 stride-2 convs, concat, BN)."""

    out: PosInt
    affine: StrictBool


class FactorizedReduce(Primitive):
    """Halves H and W; `out` defaults to `C_out`, `affine` to the call's `affine`."""

    name = "factorized_reduce"
    cost = "params 2*(out/2)*C_in (+2*out affine BN); MACs C_out*H_out*W_out*C_in"
    Params = FactorizedReduceParams
    context_defaults = {"out": "C_out", "affine": "affine"}

    def infer_shape(self, p: FactorizedReduceParams, inputs: tuple[Shape, ...]) -> Shape:
        _, h, w = one_input(self.name, inputs)
        if p.out % 2:
            raise ShapeError(f"factorized_reduce: out={p.out} must be even (two convs of out/2 channels)",
                             hint="use an even width")
        if h % 2 or w % 2:
            # conv_1 sees HxW, conv_2 sees (H-1)x(W-1): their stride-2 outputs only agree when even
            raise ShapeError(f"factorized_reduce: input {h}x{w} must have even height and width "
                             f"(its two halves would be {(h + 1) // 2}x{(w + 1) // 2} and {h // 2}x{w // 2})",
                             hint="make the spatial size even before this reduction")
        return (p.out, h // 2, w // 2)

    def param_count(self, p: FactorizedReduceParams, inputs: tuple[Shape, ...]) -> int:
        return 2 * (p.out // 2) * inputs[0][0] + (2 * p.out if p.affine else 0)

    def macs(self, p: FactorizedReduceParams, inputs: tuple[Shape, ...], out: Shape) -> int:
        # two 1x1 convs, each producing half of the output
        return out[0] * out[1] * out[2] * inputs[0][0]

    def build(self, p: FactorizedReduceParams, inputs: tuple[Shape, ...]) -> "nn.Module":
        from nasc.ops.modules import FactorizedReduce as FR

        return FR(inputs[0][0], p.out, affine=p.affine)


class LinearParams(PrimParams):
    """`linear`: a fully connected layer over a `(C, 1, 1)` map (flattened)."""

    out: PosInt
    bias: StrictBool = True


class Linear(Primitive):
    """Fully connected layer; `out` defaults to `C_out` (`classes` in a head). Its output shape is
    written `(out, 1, 1)`; the built module returns the flat `(N, out)` logits."""

    name = "linear"
    cost = "params C_in*out (+out with bias); MACs C_in*out"
    Params = LinearParams
    context_defaults = {"out": "C_out"}

    def infer_shape(self, p: LinearParams, inputs: tuple[Shape, ...]) -> Shape:
        c, h, w = one_input(self.name, inputs)
        if (h, w) != (1, 1):
            raise ShapeError(f"linear: expects a (C, 1, 1) input, got {(c, h, w)}",
                             hint="add `global_avg_pool` before `linear`")
        return (p.out, 1, 1)

    def param_count(self, p: LinearParams, inputs: tuple[Shape, ...]) -> int:
        return inputs[0][0] * p.out + (p.out if p.bias else 0)

    def macs(self, p: LinearParams, inputs: tuple[Shape, ...], out: Shape) -> int:
        return inputs[0][0] * p.out

    def build(self, p: LinearParams, inputs: tuple[Shape, ...]) -> "nn.Module":
        from nasc.ops.modules import FlatLinear

        return FlatLinear(inputs[0][0], p.out, bias=p.bias)
