"""`depthwise_conv2d` (the fast-backward depthwise conv of the mixed op) equals `F.conv2d` with
`groups=C`: outputs, input and weight gradients, twice differentiable; both memory formats."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from nasc.lower.depthwise import _grad_weight_polyphase, depthwise_conv2d

# (kernel, stride, padding, dilation): the DARTS convs and some others
CASES = [(3, 1, 1, 1), (5, 1, 2, 1), (3, 2, 1, 1), (5, 2, 2, 1), (3, 1, 2, 2), (5, 1, 4, 2),
         (3, 2, 2, 2), (5, 2, 4, 2), (3, 2, 0, 1), (3, 1, 3, 1), (3, 2, 1, 2)]


@pytest.mark.parametrize("k, s, p, d", CASES)
@pytest.mark.parametrize("size", [8, 7])
def test_matches_grouped_conv(k: int, s: int, p: int, d: int, size: int) -> None:
    g = torch.Generator().manual_seed(k * 100 + s * 10 + p + d + size)
    x = torch.randn(3, 4, size, size, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 1, k, k, generator=g, dtype=torch.float64, requires_grad=True)
    y = depthwise_conv2d(x, w, (s, s), (p, p), (d, d))
    ref = F.conv2d(x, w, None, s, p, d, 4)
    assert y.shape == ref.shape
    torch.testing.assert_close(y, ref)
    gy = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    torch.testing.assert_close(torch.autograd.grad(y, (x, w), gy), torch.autograd.grad(ref, (x, w), gy))


@pytest.mark.parametrize("k, s, p, d", [(3, 1, 1, 1), (5, 2, 2, 1), (3, 1, 2, 2), (5, 2, 4, 2)])
def test_twice_differentiable(k: int, s: int, p: int, d: int) -> None:
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 1, k, k, dtype=torch.float64, requires_grad=True)

    def f(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return depthwise_conv2d(a, b, (s, s), (p, p), (d, d))

    assert gradcheck(f, (x, w)) and gradgradcheck(f, (x, w))


@pytest.mark.parametrize("k, s, p, d", CASES)
def test_channels_last_float32(k: int, s: int, p: int, d: int) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 16, 16, 16, generator=g).contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    w = torch.randn(16, 1, k, k, generator=g, requires_grad=True)
    y = depthwise_conv2d(x, w, (s, s), (p, p), (d, d))
    ref = F.conv2d(x, w, None, s, p, d, 16)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    gy = torch.randn(ref.shape, generator=g).contiguous(memory_format=torch.channels_last)
    for a, b in zip(torch.autograd.grad(y, (x, w), gy), torch.autograd.grad(ref, (x, w), gy)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("k, p", [(3, 2), (5, 4)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_polyphase_weight_gradient_on_small_maps(k: int, p: int, channels_last: bool) -> None:
    """8x8 maps take the polyphase path for both kernel sizes: same gradients as F.conv2d."""
    g = torch.Generator().manual_seed(k)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(3, 5, 8, 8, generator=g, dtype=torch.float64).contiguous(memory_format=fmt)
    x.requires_grad_()
    w = torch.randn(5, 1, k, k, generator=g, dtype=torch.float64, requires_grad=True)
    y = depthwise_conv2d(x, w, (1, 1), (p, p), (2, 2))
    ref = F.conv2d(x, w, None, 1, p, 2, 5)
    gy = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    assert _grad_weight_polyphase(gy, x, w, (1, 1), (p, p), (2, 2)) is not None  # the path is taken
    assert _grad_weight_polyphase(gy, x, w, (1, 1), (p, p), (1, 1)) is None
    torch.testing.assert_close(torch.autograd.grad(y, (x, w), gy), torch.autograd.grad(ref, (x, w), gy))
    assert gradgradcheck(lambda a, b: depthwise_conv2d(a, b, (1, 1), (p, p), (2, 2)),
                         (x[:1, :2].detach().requires_grad_(), w[:2].detach().requires_grad_()))
