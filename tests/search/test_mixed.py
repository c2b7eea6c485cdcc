"""The fast MixedOp computes exactly what DARTS' `sum(w * op(x))` computes: outputs, every
gradient (weights and mixing weights), batch-norm statistics; train and eval mode."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasc.lower.mixed import MixedOp
from nasc.ops.modules import FactorizedReduce, Zero
from nasc.search.darts_supernet import DartsSupernet

from search_helpers import tiny_space


def naive_forward(self: MixedOp, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """DARTS' MixedOp.forward over the same modules."""
    return sum(wi * op(x) for wi, op in zip(w.unbind(0), self.ops))  # type: ignore[return-value]


def _run(model: DartsSupernet, x: torch.Tensor, train: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.train(train)
    out = model(x)
    loss = (out * torch.linspace(-1, 1, out.shape[1], dtype=out.dtype)).pow(2).sum()
    params = [p for p in model.parameters()]
    grads = torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True) if train else []
    return out.detach(), list(grads)


@pytest.mark.parametrize("channels_last", [False, True])
def test_supernet_fast_mixed_op_equals_naive_sum(monkeypatch: pytest.MonkeyPatch,
                                                  channels_last: bool) -> None:
    torch.manual_seed(0)
    dtype = torch.float32 if channels_last else torch.float64
    fast = DartsSupernet.build(tiny_space(), channels_last=channels_last).to(dtype)
    with torch.no_grad():
        for a in fast.alphas():
            a.normal_(0, 1)
    naive = DartsSupernet.build(tiny_space(), channels_last=False).to(dtype)
    naive.load_state_dict(fast.state_dict())
    x = torch.randn(5, 3, 8, 8, dtype=dtype)
    out_f, g_f = _run(fast, x, train=True)
    monkeypatch.setattr(MixedOp, "forward", naive_forward)
    out_n, g_n = _run(naive, x, train=True)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out_f, out_n, **tol)
    assert len(g_f) == len(g_n) == len(list(fast.parameters()))
    for a, b in zip(g_f, g_n):
        torch.testing.assert_close(a, b, **tol)
    # running statistics and counters moved identically
    for (name, a), (_, b) in zip(fast.named_buffers(), naive.named_buffers()):
        torch.testing.assert_close(a, b, **tol, msg=name)
    # eval mode (running statistics) too
    monkeypatch.undo()
    e_f, _ = _run(fast, x, train=False)
    monkeypatch.setattr(MixedOp, "forward", naive_forward)
    e_n, _ = _run(naive, x, train=False)
    torch.testing.assert_close(e_f, e_n, **tol)


def test_pool_candidates_get_a_non_affine_batch_norm_and_none_is_not_computed() -> None:
    pool = nn.MaxPool2d(3, 1, 1)
    m = MixedOp([Zero(1), pool, nn.Identity()], ["none", "max_pool_3x3", "skip_connect"],
                out_channels=3)
    assert isinstance(m.ops[1], nn.Sequential) and m.ops[1][0] is pool
    bn = m.ops[1][1]
    assert isinstance(bn, nn.BatchNorm2d) and not bn.affine and bn.num_features == 3
    assert "ops.1.1.running_mean" in m.state_dict()
    assert [p[0] for p in m._plan] == [1, 2]  # the `none` candidate has no plan entry
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    w = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    bn_ref = nn.BatchNorm2d(3, affine=False).double()
    m.double()
    expected = 0.3 * bn_ref(pool(x)) + 0.2 * x
    torch.testing.assert_close(m(x, w), expected)


def test_pool_candidate_without_width_is_an_error() -> None:
    with pytest.raises(ValueError, match="out_channels"):
        MixedOp([nn.AvgPool2d(3, 1, 1)], ["avg_pool_3x3"])


def test_all_none_edge_gives_zeros_of_the_strided_shape() -> None:
    m = MixedOp([Zero(2), Zero(2)], ["none", "none"])
    y = m(torch.randn(2, 3, 8, 8), torch.tensor([0.5, 0.5]))
    assert y.shape == (2, 3, 4, 4) and not y.any()


def test_shared_relu_feeds_conv_candidates_and_factorized_reduce() -> None:
    torch.manual_seed(0)
    sep = nn.Sequential(nn.ReLU(), nn.Conv2d(4, 4, 3, 2, 1, groups=4, bias=False),
                        nn.Conv2d(4, 4, 1, bias=False), nn.BatchNorm2d(4, affine=False),
                        nn.ReLU(), nn.Conv2d(4, 4, 3, 1, 1, groups=4, bias=False),
                        nn.Conv2d(4, 4, 1, bias=False), nn.BatchNorm2d(4, affine=False))
    fr = FactorizedReduce(4, 4, affine=False)
    m = MixedOp([sep, fr], ["sep_conv_3x3", "skip_connect"], out_channels=4).double()
    plan = {p[0]: p for p in m._plan}
    assert plan[0][1] and plan[1][1]  # both read the shared ReLU
    assert plan[0][3] is sep[7] and plan[1][3] is fr.bn  # weights folded into the last BN
    x = torch.randn(3, 4, 8, 8, dtype=torch.float64, requires_grad=True)
    w = torch.tensor([0.7, 0.3], dtype=torch.float64, requires_grad=True)
    y = m(x, w)
    gx, gw = torch.autograd.grad(y.pow(2).sum(), (x, w))
    x2 = x.detach().clone().requires_grad_()
    w2 = w.detach().clone().requires_grad_()
    y2 = naive_forward(m, x2, w2)
    gx2, gw2 = torch.autograd.grad(y2.pow(2).sum(), (x2, w2))
    torch.testing.assert_close(y, y2)
    torch.testing.assert_close(gx, gx2)
    torch.testing.assert_close(gw, gw2)


def test_mixed_op_supports_double_backward() -> None:
    """Exact second-order checks differentiate through the fast path's backward."""
    torch.manual_seed(0)
    model = DartsSupernet.build(tiny_space(), channels_last=False).double()
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    loss = F.cross_entropy(model(x), torch.tensor([0, 1, 2, 3]))
    gw = torch.autograd.grad(loss, model.network_weights(), create_graph=True)
    dot = sum((g * g).sum() for g in gw)
    ga = torch.autograd.grad(dot, model.alphas())
    assert all(torch.isfinite(g).all() and g.abs().max() > 0 for g in ga)
