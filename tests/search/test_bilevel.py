"""The DARTS architecture gradient: first order is the plain validation gradient; second order
(finite-difference Hessian-vector product) matches the exact gradient through the unrolled step."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from nasc.search.bilevel import Architect
from nasc.search.darts_supernet import DartsSupernet

from search_helpers import smooth_space, tiny_space

XI, MOMENTUM, WD = 0.05, 0.9, 3e-4


def _setup(dtype: torch.dtype = torch.float64, smooth: bool = False):
    torch.manual_seed(0)
    space = smooth_space() if smooth else tiny_space()
    model = DartsSupernet.build(space, channels_last=False).to(dtype)
    with torch.no_grad():  # alphas away from uniform so every term matters
        for a in model.alphas():
            a.normal_(0, 0.5)
    g = torch.Generator().manual_seed(1)
    data = [torch.randn(6, 3, 8, 8, generator=g, dtype=dtype), torch.randint(0, 5, (6,), generator=g),
            torch.randn(6, 3, 8, 8, generator=g, dtype=dtype), torch.randint(0, 5, (6,), generator=g)]
    w_opt = torch.optim.SGD(model.network_weights(), lr=XI, momentum=MOMENTUM, weight_decay=WD)
    # one real weight step so that the momentum buffers exist and enter the virtual step
    w_opt.zero_grad()
    F.cross_entropy(model(data[0]), data[1]).backward()
    w_opt.step()
    model.zero_grad(set_to_none=True)
    return model, w_opt, data


def _exact_unrolled(model: DartsSupernet, w_opt: torch.optim.Optimizer, data: list[torch.Tensor]):
    """d/dalpha L_val(w'(alpha), alpha) by autograd through the virtual step (create_graph)."""
    x_t, y_t, x_v, y_v = data
    named = model.named_network_weights()
    ws = [p for _, p in named]
    loss = F.cross_entropy(model(x_t), y_t)
    grads = torch.autograd.grad(loss, ws, create_graph=True)
    w_virtual = [w - XI * (MOMENTUM * w_opt.state[w]["momentum_buffer"] + g + WD * w)
                 for w, g in zip(ws, grads)]
    out = functional_call(model, {n: w for (n, _), w in zip(named, w_virtual)}, (x_v,))
    return torch.autograd.grad(F.cross_entropy(out, y_v), model.alphas())


@pytest.mark.parametrize("smooth, fd_scale", [(True, 0.01), (False, 1e-7)])
def test_second_order_equals_exact_unrolled_gradient(smooth: bool, fd_scale: float) -> None:
    """DARTS' r = 0.01 on a ReLU-free space; on the DARTS ops (ReLU, max pool) a smaller r keeps
    the finite difference inside one smooth piece of the loss."""
    model, w_opt, data = _setup(smooth=smooth)
    exact = _exact_unrolled(model, w_opt, data)
    arch = Architect(model, None, w_momentum=MOMENTUM, w_weight_decay=WD, order="second",
                     fd_scale=fd_scale)
    approx = arch.gradient(*data, w_opt, XI)
    first = torch.autograd.grad(F.cross_entropy(model(data[2]), data[3]), model.alphas())
    for a, e, f in zip(approx, exact, first):
        assert a.shape == e.shape == f.shape
        # the Hessian term is what separates the orders: it must be large against the tolerance
        assert (e - f).abs().max() > 100 * 1e-3 * e.abs().max()
        torch.testing.assert_close(a, e, rtol=1e-3, atol=1e-3 * float(e.abs().max()))


def _batches_tracked(model: DartsSupernet) -> int:
    return int(next(b for n, b in model.named_buffers() if n.endswith("num_batches_tracked")))


@pytest.mark.parametrize("order, passes", [("first", 1), ("second", 3)])
def test_gradient_leaves_weights_and_grads_alone(order: str, passes: int) -> None:
    """Only the alphas' gradient is returned (no .grad anywhere, weights untouched). Batch-norm
    statistics of the real network see the passes pt.darts runs on it: the validation pass
    (first order), or the virtual step's training pass and the two finite-difference passes
    (second order; the pass at the virtual weights updates a scratch copy, pt.darts' v_net)."""
    model, w_opt, data = _setup()
    before = [p.detach().clone() for p in model.network_weights()]
    tracked = _batches_tracked(model)
    arch = Architect(model, None, w_momentum=MOMENTUM, w_weight_decay=WD, order=order)  # type: ignore[arg-type]
    arch.gradient(*data, w_opt, XI)
    assert all(torch.equal(b, p) for b, p in zip(before, model.network_weights()))
    assert all(p.grad is None for p in model.parameters())
    assert _batches_tracked(model) == tracked + passes


def test_first_order_is_plain_validation_gradient_without_weight_grads() -> None:
    model, w_opt, data = _setup()
    arch = Architect(model, None, w_momentum=MOMENTUM, w_weight_decay=WD, order="first")
    got = arch.gradient(*data, w_opt, XI)
    assert all(p.grad is None for p in model.network_weights())
    F.cross_entropy(model(data[2]), data[3]).backward()
    for g, a in zip(got, model.alphas()):
        torch.testing.assert_close(g, a.grad, rtol=1e-12, atol=0)


@pytest.mark.parametrize("order", ["first", "second"])
def test_step_updates_only_alphas_with_the_alpha_optimizer(order: str) -> None:
    model, w_opt, data = _setup()
    weights = [p.detach().clone() for p in model.network_weights()]
    alphas = [a.detach().clone() for a in model.alphas()]
    a_opt = torch.optim.Adam(model.alphas(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    arch = Architect(model, a_opt, w_momentum=MOMENTUM, w_weight_decay=WD, order=order)  # type: ignore[arg-type]
    arch.step(*data, w_opt, XI)
    assert all(torch.equal(b, p) for b, p in zip(weights, model.network_weights()))
    # Adam's first step moves every entry by about lr (sign of the gradient)
    for before, a in zip(alphas, model.alphas()):
        step = (a.detach() - before).abs()
        assert step.max() <= 3.1e-4 and step.min() > 0
        assert a.grad is None


def test_order_is_checked() -> None:
    model, _, _ = _setup(torch.float32)
    with pytest.raises(ValueError, match="first' or 'second"):
        Architect(model, None, w_momentum=0.9, w_weight_decay=0.0, order="third")  # type: ignore[arg-type]
