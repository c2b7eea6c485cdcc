"""The IR-editing passes: aux-towers, drop-path, affine-bn, scale-up."""
from __future__ import annotations

from pathlib import Path

import pytest

from nasc.analysis.elaborate import elaborate
from nasc.errors import PassError
from nasc.frontend import load_model
from nasc.ir.expr import evaluate, format_expr, lit, parse_expr
from nasc.ir.model import Model
from nasc.passes import run_pipeline
from nasc.passes.affine_bn import set_affine
from nasc.passes.aux_towers import add_aux_tower, remove_aux_tower
from nasc.passes.drop_path import mark_drop_path
from nasc.passes.scale_up import scale_up

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str, **overrides: object) -> Model:
    return load_model(EXAMPLES / f"{name}.nas", overrides=overrides or None)


def marked(model: Model) -> list[str]:
    return [f"{c.name}.{n.name}.e{i}" for c in model.cells for n in c.nodes for i, e in enumerate(n.edges)
            if e.drop_path]


# ---- aux-towers ---------------------------------------------------------------------------------

def test_aux_tower_defaults_follow_darts() -> None:
    bare = remove_aux_tower(load("darts_space"))
    assert bare.aux is None
    out = add_aux_tower(bare)
    assert out.aux is not None
    assert out.aux.op.op == "cifar_aux"
    assert format_expr(out.aux.after) == "2 * layers // 3"  # symbolic: follows `--set layers=...`
    assert evaluate(out.aux.weight, {}) == 0.4
    network = elaborate(out)
    assert network.aux_after == 5 and network.aux_weight == 0.4
    assert network.aux is not None and network.aux.in_shape == (256, 8, 8)


def test_aux_tower_op_by_input_size() -> None:
    imagenet = remove_aux_tower(load("darts_v2_imagenet"))
    out = add_aux_tower(imagenet)
    assert out.aux is not None and out.aux.op.op == "imagenet_aux"
    assert elaborate(out).aux_after == 9


def test_existing_aux_tower_is_kept_unless_options_are_given() -> None:
    v2 = load("darts_v2_cifar")
    seen = []
    run_pipeline(v2, "aux-towers", observer=seen.append)
    assert not seen[0].changed
    out = run_pipeline(v2, "aux-towers", {"aux-towers": {"weight": 0.3, "after": 15}}, verify=True)
    assert out.aux is not None
    assert evaluate(out.aux.weight, {}) == 0.3 and evaluate(out.aux.after, {}) == 15
    assert out.aux.op == v2.aux.op  # type: ignore[union-attr]
    assert run_pipeline(v2, "aux-towers", {"aux-towers": {"enable": False}}).aux is None


def test_aux_tower_errors() -> None:
    v2 = load("darts_v2_cifar")
    with pytest.raises(PassError, match=r"after cell 20, but the network has cells 0\.\.19"):
        add_aux_tower(v2, after=20)
    with pytest.raises(PassError, match="aux tower op `fancy_aux` is not defined") as e:
        add_aux_tower(v2, op="fancy_aux")
    assert "import std" in (e.value.hint or "")


# ---- drop-path ----------------------------------------------------------------------------------

def test_drop_path_marks_non_identity_edges_like_darts() -> None:
    out = mark_drop_path(load("darts_v2_cifar"))
    # skip_connect reading a normal-cell state is identity; in the reduce cell only reading n0
    # (stride 1) is identity: DARTS' `not isinstance(op, Identity)`
    assert marked(out) == [
        "normal.n0.e0", "normal.n0.e1", "normal.n1.e0", "normal.n1.e1", "normal.n2.e0", "normal.n3.e1",
        "reduce.n0.e0", "reduce.n0.e1", "reduce.n1.e1", "reduce.n2.e0", "reduce.n3.e1",
    ]


def test_skip_connect_reading_a_reduction_input_is_marked() -> None:
    # a strided skip_connect is factorized_reduce, not identity: DARTS drops its path
    v2 = load("darts_v2_cifar")
    reduce = v2.cell("reduce")
    assert reduce is not None
    n1 = reduce.nodes[1]
    edge = n1.edges[0].model_copy(update={"input": "s0"})
    cell = reduce.model_copy(update={"nodes": (reduce.nodes[0], n1.model_copy(update={"edges": (edge, n1.edges[1])}),
                                               *reduce.nodes[2:])})
    model = v2.model_copy(update={"cells": (v2.cells[0], cell)})
    assert "reduce.n1.e0" in marked(mark_drop_path(model))


def test_drop_path_by_op_name_and_choices() -> None:
    out = mark_drop_path(load("darts_v2_cifar"), ops=["max_pool_3x3"])
    assert marked(out) == ["reduce.n0.e0", "reduce.n0.e1", "reduce.n1.e1", "reduce.n2.e0", "reduce.n3.e1"]
    space = load("darts_space")
    assert marked(mark_drop_path(space)) == []
    assert len(marked(mark_drop_path(space, choices=True))) == 28


# ---- affine-bn ----------------------------------------------------------------------------------

def test_affine_bn_makes_cell_batch_norms_affine() -> None:
    from nasc.analysis.cost import cost

    space = load("darts_space", C=4, layers=5)
    assert not space.affine
    out = set_affine(space)
    assert out.affine
    before, after = cost(elaborate(space)).params, cost(elaborate(out)).params
    assert after > before
    assert set_affine(out) == out


# ---- scale-up -----------------------------------------------------------------------------------

def test_scale_up_updates_the_params_the_layout_names() -> None:
    space = load("darts_space")
    out = scale_up(space, cells=20, channels=36)
    assert {p.name: p.default for p in out.params} == {"C": 36, "layers": 20, "classes": 10}
    assert out.layout == space.layout  # `cells = layers`, `channels = C`: the params carry the change
    network = elaborate(out)
    assert [c.index for c in network.cells if c.reduction] == [6, 13]
    assert network.stems[0].out_shape == (108, 32, 32)  # the stem width `C * 3` follows C, as in DARTS
    assert network.cells[0].channels == 36 and network.cells[19].channels == 144


def test_scale_up_recomputes_explicit_reductions_and_moves_the_aux_tower() -> None:
    v2 = load("darts_v2_cifar")
    literal = v2.model_copy(update={
        "layout": v2.layout.model_copy(update={"cells": lit(20), "reductions": (lit(6), lit(13))}),
        "aux": v2.aux.model_copy(update={"after": lit(13)})})  # type: ignore[union-attr]
    out = scale_up(literal, cells=8)
    assert evaluate(out.layout.cells, {}) == 8
    assert [evaluate(r, {}) for r in out.layout.reductions or ()] == [2, 5]
    assert out.aux is not None and evaluate(out.aux.after, {}) == 5
    # symbolic reductions/after that already follow the count are kept as written
    sym = scale_up(v2, cells=8)
    assert sym.layout.reductions == v2.layout.reductions and sym.aux == v2.aux
    assert [c.index for c in elaborate(sym).cells if c.reduction] == [2, 5]


def test_scale_up_explicit_reductions() -> None:
    out = scale_up(load("darts_space"), reductions=[4, 1])
    assert [c.index for c in elaborate(out).cells if c.reduction] == [1, 4]
    with pytest.raises(PassError, match=r"reductions \[1, 8\] must be distinct cell indices in 0\.\.7"):
        scale_up(load("darts_space"), reductions=[1, 8])
    with pytest.raises(PassError, match="must be distinct"):
        scale_up(load("darts_space"), reductions=[3, 3])


def test_scale_up_literal_layout_values() -> None:
    space = load("darts_space")
    lit = space.model_copy(update={"layout": space.layout.model_copy(update={"channels": parse_expr("C + 0")})})
    out = scale_up(lit, channels=20)
    assert evaluate(out.layout.channels, {}) == 20
    assert {p.name: p.default for p in out.params}["C"] == 16
