"""Gradient-routing primitives for Petridish's growth step (Hu et al., NeurIPS 2019):
`stop_gradient` (forward identity, backward zero) and `stop_forward` (forward zero, backward
identity).

A candidate node reads the parent network through `stop_gradient` and joins it through
`stop_forward`, so the parent computes exactly what it computed before and its weights get
exactly the gradients they got before, while the candidate still receives the gradient of the
state it joins (see `nasc.search.petridish_grow`). Both are shape-preserving, weightless and
do no multiply-adds.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from nasc.ops.common import one_input
from nasc.ops.pool import NoParams
from nasc.ops.registry import Primitive, Shape

if TYPE_CHECKING:
    from torch import nn


class StopGradient(Primitive):
    """The input itself in the forward pass, no gradient in the backward pass (`x.detach()`).
    The output shares the input's memory (`aliases_input`)."""

    name = "stop_gradient"
    Params = NoParams
    aliases_input = True

    def infer_shape(self, p: NoParams, inputs: tuple[Shape, ...]) -> Shape:
        return one_input(self.name, inputs)

    def build(self, p: NoParams, inputs: tuple[Shape, ...]) -> "nn.Module":
        from nasc.ops.modules import StopGradient as StopGradientModule

        return StopGradientModule()


class StopForward(Primitive):
    """Exact zeros of the input's shape in the forward pass, the incoming gradient unchanged in
    the backward pass (a `torch.autograd.Function`)."""

    name = "stop_forward"
    Params = NoParams

    def infer_shape(self, p: NoParams, inputs: tuple[Shape, ...]) -> Shape:
        return one_input(self.name, inputs)

    def build(self, p: NoParams, inputs: tuple[Shape, ...]) -> "nn.Module":
        from nasc.ops.modules import StopForward as StopForwardModule

        return StopForwardModule()
