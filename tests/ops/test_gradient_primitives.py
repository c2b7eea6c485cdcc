"""`stop_gradient` and `stop_forward`: Petridish's gradient-routing primitives, forward and backward."""
from __future__ import annotations

import torch

from nasc.ops import get_primitive


def _build(name: str, shape: tuple[int, int, int] = (3, 4, 5)) -> torch.nn.Module:
    prim = get_primitive(name)
    p = prim.Params()
    assert prim.infer_shape(p, (shape,)) == shape
    assert prim.param_count(p, (shape,)) == 0 and prim.macs(p, (shape,), shape) == 0
    return prim.build(p, (shape,))


def test_stop_gradient_is_identity_forward_and_zero_backward() -> None:
    m = _build("stop_gradient")
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    y = m(x)
    assert torch.equal(y, x) and not y.requires_grad
    # a graph through both a plain and a stopped path: only the plain one reaches x
    (x * 2 + m(x) * 5).sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, 2.0))


def test_stop_forward_is_zero_forward_and_identity_backward() -> None:
    m = _build("stop_forward")
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    y = m(x)
    assert y.shape == x.shape and y.dtype == x.dtype and bool((y == 0).all()) and y.requires_grad
    g = torch.randn_like(x)
    y.backward(g)
    assert torch.equal(x.grad, g)


def test_stop_forward_is_exact_zeros_for_non_finite_inputs() -> None:
    m = _build("stop_forward")
    x = torch.tensor([float("inf"), float("nan"), -float("inf"), 1.0]).view(1, 1, 2, 2)
    assert torch.equal(m(x), torch.zeros(1, 1, 2, 2))


def test_join_keeps_the_value_and_passes_the_gradient_to_both_sides() -> None:
    """`a + stop_forward(b)` equals `a` bit for bit; both `a` and `b` get the gradient of the sum."""
    sf = _build("stop_forward")
    a = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    out = a + sf(b)
    assert torch.equal(out, a)
    g = torch.randn_like(a)
    out.backward(g)
    assert torch.equal(a.grad, g) and torch.equal(b.grad, g)


def test_stop_forward_keeps_channels_last() -> None:
    m = _build("stop_forward")
    x = torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last)
    assert m(x).is_contiguous(memory_format=torch.channels_last)
