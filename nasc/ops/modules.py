"""Torch modules of the primitives that `torch.nn` has no exact equivalent for.

Imported only from `build()` methods (lazily), so the rest of `nasc.ops` stays torch-free. Each
mirrors the reference DARTS implementation where one exists (`FactorizedReduce`, `Zero`).
"""
from __future__ import annotations

import torch
from torch import nn


class Zero(nn.Module):
    """The `none` op: zeros of the strided input shape. It does no arithmetic on `x` (DARTS'
    `x.mul(0.)` would propagate NaN/inf and cost a pass over the input)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return torch.zeros_like(x)
        return x.new_zeros(x[:, :, :: self.stride, :: self.stride].shape)

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


class FactorizedReduce(nn.Module):
    """DARTS' FactorizedReduce: ReLU, two 1x1 stride-2 convs (the second shifted by one pixel),
    concatenated to `out` channels, then batch norm."""

    def __init__(self, c_in: int, out: int, affine: bool = True) -> None:
        super().__init__()
        assert out % 2 == 0, "factorized_reduce needs an even number of output channels"
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        out = torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1)
        return self.bn(out)


class Sum(nn.Module):
    """Element-wise sum of one or more tensors of equal shape."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    """Channel concatenation of one or more tensors."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class FlatLinear(nn.Linear):
    """`nn.Linear` over the flattened features of an `(N, C, 1, 1)` map (or an `(N, C)` vector)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x.flatten(1))


class StopGradient(nn.Module):
    """`stop_gradient`: the input in the forward pass, no gradient backward (`x.detach()`; the
    output shares the input's memory, so nothing after it may modify it in place)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach()


class _StopForwardFn(torch.autograd.Function):
    """Forward: exact zeros (no arithmetic on `x`, so NaN/inf do not leak). Backward: identity."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.zeros_like(x)

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return g


class StopForward(nn.Module):
    """`stop_forward`: zeros of the input's shape forward, the incoming gradient unchanged
    backward (Petridish's join: the parent's forward is untouched, the candidate still learns)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _StopForwardFn.apply(x)
