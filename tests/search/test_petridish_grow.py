"""Petridish's growth step: the grown network computes the parent exactly (values and the parent's
gradients) while the candidate learns; `select` keeps the top-k (input, op) pairs."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from nasc.analysis.cost import cost
from nasc.analysis.elaborate import elaborate
from nasc.errors import NameResolutionError, SearchError
from nasc.frontend import parse_source
from nasc.ir.ids import edge_id
from nasc.ir.model import Model, OpCall
from nasc.ir.printer import print_model
from nasc.ir.queries import choice_edge_ids, is_search_space
from nasc.ir.verify import verify
from nasc.lower import build_module
from nasc.lower.mixed import MixedOp
from nasc.lower.net import NascNet
from nasc.ops.registry import primitive_table
from nasc.passes.finalize import scores_from_matrices
from nasc.passes.finalize_rules import get_rule
from nasc.search.petridish_grow import Grown, arch_shape, grow, select

from search_helpers import tiny_space

PARENT = """\
import std

param C = 4
param layers = 3
param classes = 5

cell normal(s0: preprocess, s1: preprocess) {
  n0 = sep_conv_3x3(s0) + skip_connect(s1)
  n1 = max_pool_3x3(s0) + sep_conv_3x3(n0)
  return concat(n0, n1)
}

cell reduce(s0: preprocess, s1: preprocess) {
  n0 = max_pool_3x3(s0) + sep_conv_3x3(s1)
  n1 = skip_connect(n0) + avg_pool_3x3(s1)
  return concat(n0, n1)
}

network tiny {
  input = (3, 8, 8)
  classes = classes
  stem = cifar_stem(C_out=C * 3)
  cells = layers
  channels = C
  head = classifier
}
"""
OPS = ("sep_conv_3x3", "max_pool_3x3", "skip_connect", "dil_conv_3x3")


def parent() -> Model:
    return parse_source(PARENT, "tiny.nas")


def lowered(model: Model, seed: int = 0) -> NascNet:
    torch.manual_seed(seed)
    return build_module(elaborate(model)).double()


def batch(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return (torch.randn(n, 3, 8, 8, generator=g, dtype=torch.float64),
            torch.randint(0, 5, (n,), generator=g))


def grown_pair(template: str) -> tuple[Grown, NascNet, NascNet, torch.Tensor]:
    """Parent module, grown module with the parent's weights, and nonzero candidate alphas."""
    g = grow(parent(), template, OPS)
    pnet, gnet = lowered(parent()), lowered(g.model, seed=7)
    missing, unexpected = gnet.load_state_dict(pnet.state_dict(), strict=False)
    # existing modules keep their names: only the candidate and the join are new
    instances = [c.index for c in elaborate(g.model).cells if c.template == template]
    assert unexpected == []
    assert missing and all(any(k.startswith(f"cells.{i}.{g.candidate}.") for i in instances) for k in missing)
    torch.manual_seed(3)
    alpha = (torch.randn(arch_shape(g), dtype=torch.float64) * 0.5).requires_grad_()
    return g, pnet, gnet, alpha


# -- the primitives -----------------------------------------------------------------------------
def test_grown_ir_shape() -> None:
    g = grow(parent(), "normal", OPS)
    assert (g.candidate, g.join, g.replaced, g.ops) == ("n2", "n2_join", "n1", OPS)
    assert g.op_defs == tuple(f"sg_{op}" for op in OPS)
    cell = g.model.cell("normal")
    assert cell is not None and cell.output == ("n0", "n2_join")
    cand = cell.nodes[2]
    assert [e.input for e in cand.edges] == ["s0", "s1", "n0", "n1"] and cand.combine == "sum"
    assert arch_shape(g) == (4, len(OPS)) == (len(choice_edge_ids(cell)), len(OPS))
    join = cell.nodes[3]
    assert [(e.input, e.op.op) for e in join.edges] == [("n1", "identity"), ("n2", "stop_forward")]  # type: ignore[union-attr]
    sg = g.model.op_def("sg_sep_conv_3x3")
    assert sg is not None and sg.body == (OpCall(op="stop_gradient"), OpCall(op="sep_conv_3x3"))
    assert g.model.cell("reduce") == parent().cell("reduce")
    assert verify(g.model, primitive_table()) == []
    assert parse_source(print_model(g.model), "g.nas") == g.model
    assert grow(parent(), "normal", OPS, name="cand").candidate == "cand"


# -- exactness ----------------------------------------------------------------------------------
@pytest.mark.parametrize("template", ["normal", "reduce"])
def test_grown_network_computes_the_parent_exactly(template: str) -> None:
    g, pnet, gnet, alpha = grown_pair(template)
    x, _ = batch()
    for train in (True, False):  # train: batch statistics (and running-stat updates); eval: running stats
        pnet.train(train)
        gnet.train(train)
        assert torch.equal(pnet(x), gnet(x, arch={template: alpha}))
    for k, v in pnet.state_dict().items():  # the running statistics moved identically
        assert torch.equal(v, gnet.state_dict()[k]), k


@pytest.mark.parametrize("template", ["normal", "reduce"])
def test_parent_gradients_are_unchanged_and_the_candidate_learns(template: str) -> None:
    g, pnet, gnet, alpha = grown_pair(template)
    x, y = batch()
    pnet.train()
    gnet.train()
    F.cross_entropy(pnet(x), y).backward()
    (F.cross_entropy(gnet(x, arch={template: alpha}), y) + 1e-3 * alpha.abs().sum()).backward()
    gparams = dict(gnet.named_parameters())
    for name, p in pnet.named_parameters():
        assert p.grad is not None and torch.equal(p.grad, gparams[name].grad), name
    assert alpha.grad is not None and bool((alpha.grad != 0).all())
    cand = {n: p for n, p in gparams.items() if f".{g.candidate}." in n}
    assert cand and all(p.grad is not None for p in cand.values())
    assert sum(float(p.grad.abs().sum()) for p in cand.values()) > 0  # type: ignore[union-attr]


def test_mixed_op_sums_with_raw_weights() -> None:
    """The contract Petridish relies on: sum_j w_j * op_j(x) for any real w (no normalisation)."""
    g, _, gnet, _ = grown_pair("normal")
    mixed = gnet.cells[0].get_submodule(f"{g.candidate}.e2.op")
    assert isinstance(mixed, MixedOp)
    gnet.eval()
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    for w in ([1.5, -2.0, 0.0, 0.25], [-1.0, -1.0, -1.0, -1.0], [0.0, 0.0, 3.0, 0.0]):
        wt = torch.tensor(w, dtype=torch.float64)
        expected = sum(wt[j] * op(x) for j, op in enumerate(mixed.ops))
        assert torch.allclose(mixed(x, wt), expected, rtol=1e-12, atol=1e-12)


# -- select -------------------------------------------------------------------------------------
def _scores(g: Grown) -> dict[str, list[float]]:
    """Zero everywhere except: s1/max_pool -3 (largest |w|), n0/sep_conv 2, n0/skip 2 (tie: the
    earlier op wins), s0/dil_conv 1.5."""
    ids = [edge_id(g.template, g.candidate, i) for i in range(arch_shape(g)[0])]
    s = {i: [0.0] * len(OPS) for i in ids}
    s[ids[1]][1] = -3.0
    s[ids[2]][0] = 2.0
    s[ids[2]][2] = 2.0
    s[ids[0]][3] = 1.5
    return s


def test_select_keeps_the_top_k_pairs_and_grows_the_output() -> None:
    p = parent()
    g = grow(p, "normal", OPS)
    final = select(g, _scores(g), k=3)
    cell = final.cell("normal")
    assert cell is not None and not is_search_space(final)
    assert [n.name for n in cell.nodes] == ["n0", "n1", "n2"]
    assert cell.output == ("n0", "n1", "n2")  # the join is gone, the candidate joined the concat
    assert [(e.input, e.op.op) for e in cell.nodes[2].edges] == [  # type: ignore[union-attr]
        ("s1", "max_pool_3x3"), ("n0", "sep_conv_3x3"), ("n0", "skip_connect")]
    assert cell.nodes[:2] == p.cell("normal").nodes  # type: ignore[union-attr]
    assert not any(d.name.startswith("sg_") for d in final.ops)
    assert verify(final, primitive_table()) == []
    assert parse_source(print_model(final), "final.nas") == final

    # k=4 adds s0/dil_conv; the output concat grew by one node of C channels in every instance
    net_p, net_f = elaborate(p), elaborate(select(g, _scores(g), k=4))
    for cp, cf in zip(net_p.cells, net_f.cells):
        if cp.template == "normal":
            assert cf.out_shape == (cp.out_shape[0] + cp.channels, *cp.out_shape[1:])
        else:
            assert cf.out_shape == cp.out_shape

    # parameters: the new ones are exactly the candidate's; shapes change only where the wider
    # cell output is read (next cells' preprocessing, the head); the cost model agrees with torch
    mp, mf = lowered(p), lowered(final)
    pp, pf = dict(mp.named_parameters()), dict(mf.named_parameters())
    new = set(pf) - set(pp)
    assert set(pp) <= set(pf) and new and all(".n2." in n for n in new)
    changed = {n for n in pp if pp[n].shape != pf[n].shape}
    assert changed and all(n.startswith(("cells.1.s", "cells.2.s", "head")) for n in changed)
    assert cost(elaborate(final)).params == sum(t.numel() for t in pf.values())
    assert cost(elaborate(final)).params > cost(elaborate(p)).params


def test_select_from_an_alpha_matrix_and_the_finalize_rule() -> None:
    g = grow(parent(), "reduce", OPS[:2])
    alpha = torch.zeros(arch_shape(g))
    alpha[3, 0] = -0.9  # n1 / sep_conv
    alpha[3, 1] = 0.8   # n1 / max_pool: two ops on one input are both kept
    final = select(g, scores_from_matrices(g.model, {"reduce": alpha}), k=2)
    cand = final.cell("reduce").nodes[-1]  # type: ignore[union-attr]
    assert [(e.input, e.op.op) for e in cand.edges] == [("n1", "sep_conv_3x3"), ("n1", "max_pool_3x3")]  # type: ignore[union-attr]
    assert elaborate(final)
    # the registered rule: the per-node top-k part on its own (sg_ ops as they are)
    node = g.model.cell("reduce").nodes[2].model_copy(update={"keep": 1})  # type: ignore[union-attr]
    kept = get_rule("petridish")(node, {i: alpha[i].tolist() for i in range(4)})
    assert [(e.input, e.op.op) for e in kept] == [("n1", "sg_sep_conv_3x3")]  # type: ignore[union-attr]


def test_two_templates_grow_together_and_select_in_turn() -> None:
    p = parent()
    gn = grow(p, "normal", OPS)
    gr = grow(gn.model, "reduce", OPS)
    assert gr.op_defs == ()  # the sg_* definitions are shared
    pnet, gnet = lowered(p), lowered(gr.model, seed=7)
    _, unexpected = gnet.load_state_dict(pnet.state_dict(), strict=False)
    assert unexpected == []
    torch.manual_seed(3)
    arch = {g.template: torch.randn(arch_shape(g), dtype=torch.float64) for g in (gn, gr)}
    x, _ = batch()
    pnet.eval()
    gnet.eval()
    assert torch.equal(pnet(x), gnet(x, arch=arch))
    scores = scores_from_matrices(gr.model, arch)  # one dict for both templates
    child = gr.model
    for g in (gr, gn):
        child = select(dataclasses.replace(g, model=child), scores, 2)
    assert not is_search_space(child) and not any(d.name.startswith("sg_") for d in child.ops)
    assert [c.output for c in child.cells] == [("n0", "n1", "n2"), ("n0", "n1", "n2")]
    assert verify(child, primitive_table()) == [] and elaborate(child)
    with pytest.raises(SearchError, match="already has a Petridish candidate"):
        grow(gr.model, "normal", OPS)


# -- errors -------------------------------------------------------------------------------------
def test_grow_refuses_a_search_space() -> None:
    with pytest.raises(SearchError, match="search space") as err:
        grow(tiny_space(), "normal", OPS)
    assert err.value.hint and "derive" in err.value.hint


def test_grow_refuses_an_unknown_template_or_op() -> None:
    with pytest.raises(NameResolutionError, match="unknown cell template `normall`") as err:
        grow(parent(), "normall", OPS)
    assert err.value.hint and "normal" in err.value.hint
    with pytest.raises(NameResolutionError, match="unknown candidate op `sep_conv_3x4`") as err:
        grow(parent(), "normal", ["sep_conv_3x4"])
    assert err.value.span is not None and err.value.hint and "sep_conv_3x3" in err.value.hint


def test_grow_refuses_a_cell_with_no_joinable_output() -> None:
    wide = PARENT.replace("n1 = max_pool_3x3(s0) + sep_conv_3x3(n0)\n  return concat(n0, n1)",
                          "n1 = concat(max_pool_3x3(s0), sep_conv_3x3(n0))\n  return n1")
    with pytest.raises(SearchError, match="no output node of the candidate's shape") as err:
        # conv ops only: they map the 8-channel n1 to the cell width, so the candidate elaborates
        grow(parse_source(wide, "wide.nas"), "normal", ["sep_conv_3x3", "dil_conv_3x3"])
    assert err.value.span is not None and err.value.span.line == 7


def test_select_refuses_bad_k_and_scores() -> None:
    g = grow(parent(), "normal", OPS)
    with pytest.raises(SearchError, match="cannot keep 0"):
        select(g, _scores(g), k=0)
    with pytest.raises(SearchError, match="no scores"):
        select(g, {}, k=1)
    bad = _scores(g)
    bad["normal.n0.e0"] = [1.0] * len(OPS)
    with pytest.raises(SearchError, match="not the candidate's"):
        select(g, bad, k=1)
