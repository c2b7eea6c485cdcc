"""`finalize`: the DARTS rule reproduces the reference `genotype()` on random alphas; probabilities
and logits agree; the argmax rule and its `none` handling; errors name the edge; and the whole
search -> evaluation pipeline on the DARTS_V2 alphas gives the published network."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from nasc.analysis.cost import cost
from nasc.analysis.elaborate import elaborate
from nasc.errors import PassError
from nasc.frontend import load_model
from nasc.ir.model import Choice, Model, OpCall
from nasc.ir.queries import is_search_space
from nasc.passes import run_pipeline
from nasc.passes.finalize import finalize, softmax, scores_from_matrices
from nasc.passes.finalize_rules import rule_names

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))

import darts_reference as ref  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STATES = ["s0", "s1", "n0", "n1", "n2", "n3"]


@pytest.fixture(scope="module")
def space() -> Model:
    return load_model(EXAMPLES / "darts_space.nas")


def gene(model: Model, cell: str) -> list[set[tuple[str, int]]]:
    """Per node, the set of (op, input state index) it keeps, as a DARTS genotype lists them."""
    c = model.cell(cell)
    assert c is not None
    out = []
    for n in c.nodes:
        ops = set()
        for e in n.edges:
            assert isinstance(e.op, OpCall)
            ops.add((e.op.op, STATES.index(e.input)))
        out.append(ops)
    return out


def ref_gene(pairs: list[tuple[str, int]]) -> list[set[tuple[str, int]]]:
    return [set(pairs[2 * i: 2 * i + 2]) for i in range(len(pairs) // 2)]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_darts_rule_matches_reference_genotype(space: Model, seed: int) -> None:
    torch.manual_seed(seed)
    net = ref.SearchNetwork(4, 10, 3)
    with torch.no_grad():
        net.alphas_normal.normal_(0, 1)
        net.alphas_reduce.normal_(0, 1)
    weights = scores_from_matrices(space, {"normal": net.alphas_normal.detach(), "reduce": net.alphas_reduce.detach()})
    out = finalize(space, weights)
    g = net.genotype()
    assert gene(out, "normal") == ref_gene(g.normal)
    assert gene(out, "reduce") == ref_gene(g.reduce)
    assert not is_search_space(out)
    assert all(n.keep is None and len(n.edges) == 2 for c in out.cells for n in c.nodes)


def test_probabilities_flag(space: Model) -> None:
    torch.manual_seed(5)
    m = {"normal": torch.randn(14, 8), "reduce": torch.randn(14, 8)}
    logits = scores_from_matrices(space, m)
    probs = {k: softmax(v) for k, v in logits.items()}
    assert finalize(space, probs, logits=False) == finalize(space, logits)
    assert sum(probs["normal.n0.e0"]) == pytest.approx(1.0)


def test_none_is_never_chosen_by_the_darts_rule(space: Model) -> None:
    w = {f"{c}.n{i}.e{j}": [9.0, 0, 0, 0, 1.0, 0, 0, 0] for c in ("normal", "reduce")
         for i in range(4) for j in range(i + 2)}
    out = finalize(space, w)
    assert {e.op.op for c in out.cells for n in c.nodes for e in n.edges} == {"sep_conv_3x3"}  # type: ignore[union-attr]


def test_node_without_keep_keeps_all_edges(space: Model) -> None:
    normal = space.cell("normal")
    assert normal is not None
    nodes = tuple(n.model_copy(update={"keep": None}) if n.name == "n3" else n for n in normal.nodes)
    model = space.model_copy(update={"cells": (normal.model_copy(update={"nodes": nodes}), space.cells[1])})
    w = {f"{c}.n{i}.e{j}": [0.0] * 8 for c in ("normal", "reduce") for i in range(4) for j in range(i + 2)}
    out = finalize(model, w)
    assert [len(n.edges) for n in out.cells[0].nodes] == [2, 2, 2, 5]
    # ties: the earlier edges and the first non-none candidate (max_pool_3x3)
    assert [e.input for e in out.cells[0].nodes[2].edges] == ["s0", "s1"]
    assert {e.op.op for e in out.cells[0].nodes[3].edges} == {"max_pool_3x3"}  # type: ignore[union-attr]


def test_argmax_rule_drops_none_edges_of_sum_nodes(space: Model) -> None:
    assert rule_names() == ["argmax", "darts", "petridish"]
    w = {f"{c}.n{i}.e{j}": [0.0, 0, 0, 0, 1.0, 0, 0, 0] for c in ("normal", "reduce") for i in range(4) for j in range(i + 2)}
    w["normal.n1.e0"] = [5.0, 0, 0, 0, 0, 0, 0, 0]  # none wins: dropped
    w["normal.n0.e0"] = [5.0, 0, 0, 0, 0, 0, 0, 0]
    w["normal.n0.e1"] = [6.0, 0, 0, 0, 0, 0, 0, 0]  # every edge of n0 is none: the strongest stays
    out = finalize(space, w, rule="argmax")
    n0, n1, n2, n3 = out.cells[0].nodes
    assert [(e.input, e.op.op) for e in n0.edges] == [("s1", "none")]  # type: ignore[union-attr]
    assert [e.input for e in n1.edges] == ["s1", "n0"]
    assert len(n2.edges) == 4 and len(n3.edges) == 5
    elaborate(out)  # still a valid network


def test_finalize_errors_name_the_edge(space: Model) -> None:
    w = {f"{c}.n{i}.e{j}": [0.0] * 8 for c in ("normal", "reduce") for i in range(4) for j in range(i + 2)}
    partial = {k: v for k, v in w.items() if k != "reduce.n3.e4"}
    with pytest.raises(PassError, match=r"no scores for choice edge\(s\) reduce\.n3\.e4"):
        finalize(space, partial)
    with pytest.raises(PassError, match=r"scores of `normal\.n0\.e1` have 7 values for 8 candidates"):
        finalize(space, {**w, "normal.n0.e1": [0.0] * 7})
    with pytest.raises(PassError, match=r"unknown choice edge\(s\) normal\.n9\.e0"):
        finalize(space, {**w, "normal.n9.e0": [0.0] * 8})
    with pytest.raises(PassError, match="not all finite"):
        finalize(space, {**w, "normal.n0.e1": [float("nan")] + [0.0] * 7})
    with pytest.raises(PassError, match="unknown finalize rule `argmx`") as e:
        finalize(space, w, rule="argmx")
    assert e.value.hint == "did you mean `argmax`?"
    with pytest.raises(PassError, match="has 14 choice edges but its score matrix has 2 rows"):
        scores_from_matrices(space, {"normal": [[0.0] * 8] * 2, "reduce": [[0.0] * 8] * 14})


def darts_v2_alphas() -> dict[str, torch.Tensor]:
    """Alphas whose DARTS genotype is DARTS_V2 (edge rows in `choice_edge_ids` order)."""
    out = {}
    for cell, pairs in (("normal", ref.DARTS_V2.normal), ("reduce", ref.DARTS_V2.reduce)):
        a = torch.zeros(14, 8)
        start = 0
        for i in range(4):
            for op, j in pairs[2 * i: 2 * i + 2]:
                a[start + j, ref.PRIMITIVES.index(op)] = 4.0
            start += i + 2
        out[cell] = a
    return out


def test_search_to_evaluation_pipeline_gives_the_published_network(space: Model) -> None:
    """finalize (DARTS_V2 alphas) -> scale-up 20 x 36 -> aux -> drop path -> affine BN has exactly
    the parameters of the reference NetworkCIFAR(36, 10, 20, auxiliary=True, DARTS_V2)."""
    weights = scores_from_matrices(space, darts_v2_alphas())
    out = run_pipeline(space, "finalize,scale-up,aux-towers,drop-path,affine-bn",
                       {"finalize": {"scores": weights}, "scale-up": {"cells": 20, "channels": 36}}, verify=True)
    report = cost(elaborate(out))
    assert report.params == 3_349_342
    published = ref.NetworkCIFAR(36, 10, 20, True, ref.DARTS_V2)
    assert report.params_with_aux == sum(p.numel() for p in published.parameters())
    # same cells as the hand-written example, up to the order of the edges in a node
    v2 = load_model(EXAMPLES / "darts_v2_cifar.nas")
    for name in ("normal", "reduce"):
        assert gene(out, name) == gene(v2, name)
    assert isinstance(space.cells[0].nodes[0].edges[0].op, Choice)  # the input is untouched
