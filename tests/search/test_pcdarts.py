"""PC-DARTS' defining math on a tiny space (float64): the unselected channels bypass the candidate
ops exactly, the channel shuffle is PC-DARTS' one, the betas scale the edge outputs (softmax over
each node's edges) and enter the derivation, gradients reach alphas and betas, and the
architecture is frozen during the warm-up epochs."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from nasc.errors import ConfigError
from nasc.frontend import parse_source
from nasc.ir.model import Choice
from nasc.lower.partial import PartialMixedOp, channel_shuffle
from nasc.search import pcdarts
from nasc.search.darts import derive as darts_derive
from nasc.search.pcdarts_search import PcArchStep, PcDartsSupernet

from search_helpers import TINY_SPACE

WIDE_SPACE = TINY_SPACE.replace("param C = 4", "param C = 8")  # C/K = 2 channels go through the ops


def _pc_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """The reference's channel_shuffle, written out: view, transpose, flatten."""
    n, c, h, w = x.size()
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous().view(n, -1, h, w)


def _model(k: int = 4, source: str = WIDE_SPACE) -> PcDartsSupernet:
    torch.manual_seed(0)
    return PcDartsSupernet.build(parse_source(source, "t.nas"), k=k, channels_last=False).double()


def _edge(model: PcDartsSupernet, name: str) -> PartialMixedOp:
    op = model.net.get_submodule(name).op
    assert isinstance(op, PartialMixedOp)
    return op


def test_channel_shuffle_is_the_pc_darts_one() -> None:
    x = torch.arange(8.0).view(1, 8, 1, 1).expand(2, 8, 3, 3).contiguous()
    assert channel_shuffle(x, 4)[0, :, 0, 0].tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    y = torch.randn(3, 12, 5, 5, dtype=torch.float64)
    for groups in (2, 3, 4, 6):
        assert torch.equal(channel_shuffle(y, groups), _pc_shuffle(y, groups))
    cl = y.contiguous(memory_format=torch.channels_last)
    assert torch.equal(channel_shuffle(cl, 4), _pc_shuffle(y, 4))


@pytest.mark.parametrize("edge, width, stride", [("cells.0.n1.e2", 8, 1), ("cells.1.n0.e0", 16, 2)])
def test_partial_edge_equals_the_hand_computed_forward(edge: str, width: int, stride: int) -> None:
    model = _model()
    op = _edge(model, edge)
    part = width // 4
    assert (op.k, op.part, op.stride) == (4, part, stride)
    # the candidates are built at C/K channels, in and out (a factorized reduce: two halves)
    convs = [m for m in op.mixed.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.in_channels == part and m.out_channels in (part, part // 2) for m in convs)
    x = torch.randn(4, width, 8, 8, dtype=torch.float64)
    mixing = F.softmax(torch.randn(8, dtype=torch.float64), dim=0)
    beta = torch.tensor(0.3, dtype=torch.float64)
    row = torch.cat([mixing, beta.view(1)])
    out = op(x, row)

    # by hand: DARTS' sum over the candidates on the first C/K channels, the others through
    # unchanged (max-pooled 2x2 on a stride-2 edge), concatenated, shuffled, times beta
    mixed = sum(w * cand(x[:, :part]) for w, cand in zip(mixing, op.mixed.ops))
    rest = x[:, part:] if stride == 1 else F.max_pool2d(x[:, part:], 2, 2)
    want = beta * _pc_shuffle(torch.cat([mixed, rest], dim=1), 4)
    assert out.shape == want.shape == (4, width, 8 // stride, 8 // stride)
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)

    # the bypassed channels are exact copies: output channel j*K + g is channel g*C/K + j of
    # the concatenation, whose channels from C/K on are the bypass
    bypass = [j * 4 + g for g in range(1, 4) for j in range(part)]
    source = [g * part + j for g in range(1, 4) for j in range(part)]
    assert torch.equal(out[:, bypass], (rest * beta)[:, [s - part for s in source]])
    one = op(x, torch.cat([mixing, torch.ones(1, dtype=torch.float64)]))
    if stride == 1:
        assert torch.equal(one[:, bypass], x[:, source])
    # and they do not depend on the candidates' weights
    with torch.no_grad():
        for p in op.mixed.parameters():
            p.mul_(3.0)
    assert torch.equal(op(x, row)[:, bypass], out[:, bypass])


def test_betas_scale_edge_outputs_with_a_softmax_per_node() -> None:
    model = _model()
    with torch.no_grad():
        model.beta["normal"].copy_(torch.tensor([0.0, 1.0, 2.0, -1.0, 0.5], dtype=torch.float64))
    mixing = model.mixing()["normal"]
    assert mixing.shape == (5, 9)
    torch.testing.assert_close(mixing[:, :8], F.softmax(model.arch["normal"], dim=-1))
    # nodes n0 (rows 0-1) and n1 (rows 2-4) normalise separately
    want = torch.cat([F.softmax(torch.tensor([0.0, 1.0], dtype=torch.float64), 0),
                      F.softmax(torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64), 0)])
    torch.testing.assert_close(mixing[:, 8], want)
    assert pcdarts.node_groups(model.space.cell("normal")) == [(0, 2), (2, 5)]
    w = pcdarts.edge_weights(model.space, model.beta_vectors())["normal"]
    assert w == pytest.approx(want.tolist(), rel=1e-12)
    # an edge's output is its beta-free output times its edge weight
    op = _edge(model, "cells.0.n1.e1")
    x = torch.randn(2, 8, 8, 8, dtype=torch.float64)
    row = mixing[3].detach()
    unit = torch.cat([row[:8], torch.ones(1, dtype=torch.float64)])
    torch.testing.assert_close(op(x, row), row[8] * op(x, unit), rtol=1e-12, atol=1e-12)


def test_gradients_reach_every_alpha_and_beta() -> None:
    model = _model()
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3])
    F.cross_entropy(model(x), y).backward()
    params = model.alphas()
    assert [tuple(p.shape) for p in params] == [(5, 8), (5, 8), (5,), (5,)]
    for p in params:
        assert p.grad is not None and torch.isfinite(p.grad).all()
        assert (p.grad != 0).all(), p.grad
    # weights and architecture parameters are disjoint and cover the module
    w_ids, a_ids = {id(p) for p in model.network_weights()}, {id(p) for p in params}
    assert not w_ids & a_ids and w_ids | a_ids == {id(p) for p in model.parameters()}


def test_derivation_ranks_edges_by_alpha_times_edge_weight() -> None:
    space = parse_source(WIDE_SPACE, "t.nas")
    sep = 4  # sep_conv_3x3
    # node n1 of both templates: edge e0 slightly stronger than e1, e2 weakest by alpha alone
    rows = [[0.0] * 8 for _ in range(5)]
    rows[2][sep], rows[3][sep], rows[4][sep] = 3.0, 2.9, 2.5
    alphas = {"normal": rows, "reduce": rows}
    plain = darts_derive(space, alphas)
    n1 = [n for n in plain.cell("normal").nodes if n.name == "n1"][0]
    assert [e.input for e in n1.edges] == ["s0", "s1"]
    # a large beta on e2 (the edge from n0) puts it first; e0 keeps its place, e1 goes
    betas = {"normal": [0.0, 0.0, 0.0, -1.0, 2.0], "reduce": [0.0] * 5}
    final = pcdarts.derive(space, alphas, betas)
    n1 = [n for n in final.cell("normal").nodes if n.name == "n1"][0]
    assert [e.input for e in n1.edges] == ["s0", "n0"]
    assert all(e.op.op == "sep_conv_3x3" for e in n1.edges)
    assert not any(isinstance(e.op, Choice) for c in final.cells for n in c.nodes for e in n.edges)
    strengths = pcdarts.edge_strengths(space, alphas, betas)
    assert sum(sum(strengths[f"normal.n1.e{i}"]) for i in range(3)) == pytest.approx(1.0)


def test_warm_up_epochs_skip_the_architecture_step() -> None:
    calls: list[int] = []
    architect = SimpleNamespace(step=lambda *a: calls.append(1), model=None)
    val = SimpleNamespace(next_batch=lambda: (None, None))
    cb = PcArchStep("pc-darts", architect, val, None, None, warmup_epochs=2)  # type: ignore[arg-type]
    for epoch in range(4):
        cb.pre_step(SimpleNamespace(epoch=epoch, optimizer=None, lr=0.1), None, None)  # type: ignore[arg-type]
    assert len(calls) == 2


def test_k_must_divide_the_edge_width() -> None:
    with pytest.raises(ConfigError, match="not divisible by k=3") as err:
        _model(k=3)
    assert err.value.key == "search.pc_darts.k" and err.value.hint
    assert err.value.span is not None


def test_k_one_is_darts_with_edge_normalisation() -> None:
    model = _model(k=1, source=TINY_SPACE)
    op = _edge(model, "cells.0.n0.e0")
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    mixing = F.softmax(torch.randn(8, dtype=torch.float64), dim=0)
    out = op(x, torch.cat([mixing, torch.ones(1, dtype=torch.float64)]))
    torch.testing.assert_close(out, op.mixed(x, mixing), rtol=1e-12, atol=1e-12)
