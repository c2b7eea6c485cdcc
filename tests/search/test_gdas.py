"""GDAS' defining math on a tiny space: a training forward runs exactly one candidate per edge
(the argmax of the hard Gumbel row), the straight-through weights are one-hot in value with the
gradient of the soft probabilities, the gradient reaches every alpha of an edge, evaluation runs
the argmax path without noise, and the temperature follows GDAS' linear schedule."""
from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from nasc.lower.mixed import MixedOp
from nasc.lower.onepath import OnePathOp
from nasc.search.gdas_search import GdasStep, GdasSupernet, gumbel_hard, tau_at

from search_helpers import tiny_space


def _model() -> GdasSupernet:
    torch.manual_seed(0)
    return GdasSupernet.build(tiny_space(), channels_last=False)


def _count_calls(model: GdasSupernet) -> tuple[Counter[str], Counter[str], dict[str, OnePathOp]]:
    """Hooks on every candidate module: calls per edge and per (edge, candidate index)."""
    per_edge: Counter[str] = Counter()
    per_cand: Counter[str] = Counter()
    edges: dict[str, OnePathOp] = {}
    for name, op in model.net.named_modules():
        if isinstance(op, OnePathOp):
            edges[name] = op
            for i, cand in enumerate(op.mixed.ops):
                def hook(*_: object, edge: str = name, i: int = i) -> None:
                    per_edge[edge] += 1
                    per_cand[f"{edge}/{i}"] += 1
                cand.register_forward_hook(hook)
        assert not (isinstance(op, MixedOp) and not name.endswith(".mixed")), name
    return per_edge, per_cand, edges


def test_forward_runs_exactly_one_candidate_per_edge() -> None:
    model = _model()
    per_edge, per_cand, edges = _count_calls(model)
    assert len(edges) == 3 * 5  # 3 cells of 5 choice edges
    mixed_calls = Counter[str]()
    for name, op in edges.items():
        op.mixed.register_forward_pre_hook(lambda *_, n=name: mixed_calls.update([n]))
    torch.manual_seed(1)
    rows = {}
    real = model.mixing

    def recording(alphas: object = None) -> dict[str, torch.Tensor]:
        out = real(alphas)
        rows.update({t: r.detach() for t, r in out.items()})
        return out

    model.mixing = recording  # type: ignore[method-assign]
    model(torch.randn(4, 3, 8, 8))
    assert set(per_edge) == set(edges) and set(per_edge.values()) == {1}
    assert not mixed_calls  # the all-candidate mixed op never runs
    # the candidate that ran is the one the row picks (rows are one-hot in value)
    for name in edges:
        cell = model.net.cells[int(name.split(".")[1])]
        edge = model.net.get_submodule(name.rsplit(".", 1)[0])
        pick = int(rows[cell.template][edge.row].argmax())
        assert per_cand[f"{name}/{pick}"] == 1
        torch.testing.assert_close(rows[cell.template][edge.row],
                                   F.one_hot(torch.tensor(pick), 8).float(), rtol=0, atol=1e-6)


def test_gradient_reaches_every_alpha_of_the_sampled_edges() -> None:
    model = _model()
    with torch.no_grad():  # keep `none` (whose output is zero) from being sampled
        for a in model.alphas():
            a[:, 0] = -30.0
    torch.manual_seed(2)
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    F.cross_entropy(model(x), y).backward()
    for a in model.alphas():
        assert a.grad is not None and torch.isfinite(a.grad).all()
        assert (a.grad != 0).all(), a.grad


def test_hard_weights_are_one_hot_with_the_soft_gradient() -> None:
    alpha = torch.randn(5, 8, dtype=torch.float64, requires_grad=True)
    c = torch.randn(5, 8, dtype=torch.float64)
    torch.manual_seed(3)
    hard = gumbel_hard(alpha, 2.0)
    (hard * c).sum().backward()
    grad_hard = alpha.grad.clone()
    alpha.grad = None
    torch.manual_seed(3)  # the same Gumbel draw by hand
    g = -torch.empty(5, 8, dtype=torch.float64).exponential_().log()
    soft = F.softmax((F.log_softmax(alpha, -1) + g) / 2.0, dim=-1)
    (soft * c).sum().backward()
    assert torch.equal(hard.detach().argmax(-1), soft.detach().argmax(-1))
    torch.testing.assert_close(hard.detach(), F.one_hot(soft.argmax(-1), 8).double(), rtol=0, atol=1e-12)
    torch.testing.assert_close(grad_hard, alpha.grad, rtol=1e-12, atol=1e-12)


def test_evaluation_runs_the_argmax_path_without_noise() -> None:
    model = _model()
    with torch.no_grad():
        model.arch["normal"][:, 4] = 1.0   # sep_conv_3x3 everywhere in the normal cell
        model.arch["reduce"][:, 1] = 1.0   # max_pool_3x3 in the reduce cells
    model.eval()
    _, per_cand, edges = _count_calls(model)
    x = torch.randn(2, 3, 8, 8)
    state = torch.random.get_rng_state()
    a, b = model(x), model(x)
    assert torch.equal(a, b) and torch.equal(state, torch.random.get_rng_state())
    for name in edges:
        want = 4 if name.startswith("cells.0.") else 1
        assert per_cand[f"{name}/{want}"] == 2


def test_temperature_falls_linearly_from_tau_max_to_tau_min() -> None:
    assert tau_at(0, 250, 10.0, 0.1) == 10.0
    assert tau_at(249, 250, 10.0, 0.1) == pytest.approx(0.1)
    assert tau_at(1, 3, 10.0, 0.1) == pytest.approx(5.05)
    assert tau_at(0, 1, 10.0, 0.1) == 10.0
    model = _model()
    cb = GdasStep("gdas", SimpleNamespace(model=model), None, None, None,  # type: ignore[arg-type]
                  tau_max=10.0, tau_min=0.1)
    cb.on_epoch_start(SimpleNamespace(epochs=5), 2)  # type: ignore[arg-type]
    assert model.tau == pytest.approx(5.05)


def test_architecture_step_follows_the_weight_step() -> None:
    calls: list[str] = []
    architect = SimpleNamespace(step=lambda *a: calls.append("arch"), model=None)
    val = SimpleNamespace(next_batch=lambda: (None, None))
    cb = GdasStep("gdas", architect, val, None, None, tau_max=10.0, tau_min=0.1)  # type: ignore[arg-type]
    trainer = SimpleNamespace(optimizer=None, lr=0.1)
    cb.pre_step(trainer, None, None)  # type: ignore[arg-type]
    assert calls == []
    cb.post_step(trainer, None, None, None)  # type: ignore[arg-type]
    assert calls == ["arch"]
