"""Elaboration: the model semantics of docs/internals.md on hand-built IR (parser-independent)."""
from __future__ import annotations

import subprocess
import sys

import pytest
from analysis_irkit import (STD, V2_NORMAL, V2_REDUCE, c, cell, darts_space, darts_v2_cifar, darts_v2_imagenet,
                            if_, model, node, op)

from nasc.analysis.elaborate import elaborate
from nasc.analysis.network import Mixed, Pipeline
from nasc.errors import ConfigError, Diagnostics, NameResolutionError, ShapeError, ValidationError
from nasc.ir.model import AuxHead, Choice
from nasc.source import Span


def test_darts_v2_cifar_layout() -> None:
    net = elaborate(darts_v2_cifar())
    assert net.input_shape == (3, 32, 32) and net.classes == 10
    assert [c.index for c in net.cells if c.reduction] == [6, 13]
    assert [c.channels for c in net.cells] == [36] * 6 + [72] * 7 + [144] * 7
    assert [c.template for c in net.cells[5:8]] == ["normal", "reduce", "normal"]
    assert net.stems[0].out_shape == (108, 32, 32)
    assert net.state_shapes[0] == (108, 32, 32)
    assert net.state_shapes[1] == (144, 32, 32)
    assert net.state_shapes[7] == (288, 16, 16)  # cell 6, the first reduction
    assert net.state_shapes[-1] == (576, 8, 8)
    assert net.head.out_shape == (10, 1, 1)
    assert net.aux_after == 13 and net.aux_weight == 0.4
    assert net.aux is not None and net.aux.in_shape == (576, 8, 8) and net.aux.out_shape == (10, 1, 1)
    assert len(net.state_shapes) == 21


def test_cell_inputs_repeat_the_first_state_and_preprocess_by_stride() -> None:
    net = elaborate(darts_v2_cifar())
    c0, c1, c7 = net.cells[0], net.cells[1], net.cells[7]
    assert [i.source for i in c0.inputs] == [0, 0]  # s0 = s1 = stem
    assert [i.source for i in c1.inputs] == [0, 1]
    assert [i.source for i in c7.inputs] == [6, 7]
    # after the reduction cell 6, s0 (32x32) is halved by factorized_reduce, s1 by a 1x1 conv
    assert [p.op for p in c7.inputs[0].op.calls] == ["factorized_reduce"]
    assert c7.inputs[0].op.calls[0].params.out == 72 and c7.inputs[0].out_shape == (72, 16, 16)
    assert [p.op for p in c7.inputs[1].op.calls] == ["relu", "conv", "bn"]
    assert c0.inputs[0].in_shape == (108, 32, 32) and c0.inputs[0].out_shape == (36, 32, 32)


def test_reduction_edges_from_inputs_get_stride_2() -> None:
    net = elaborate(darts_v2_cifar())
    red = net.cells[6]
    strides = {e.id: e.op.calls[0].params.stride for n in red.nodes for e in n.edges
               if e.op.calls and e.op.calls[0].op == "max_pool"}
    assert strides == {"reduce.n0.e0": 2, "reduce.n0.e1": 2, "reduce.n1.e1": 2, "reduce.n2.e0": 2,
                       "reduce.n3.e1": 2}
    skip = red.nodes[1].edges[0]  # skip_connect(n0): reads a node, so stride 1 -> identity
    assert skip.id == "reduce.n1.e0" and [p.op for p in skip.op.calls] == ["identity"]
    assert red.out_shape == (288, 16, 16) and red.channels == 72


def test_normal_edge_reading_an_input_is_stride_1_and_skip_is_identity() -> None:
    net = elaborate(darts_v2_cifar())
    n3 = net.cells[0].nodes[3]
    assert [e.id for e in n3.edges] == ["normal.n3.e0", "normal.n3.e1"]
    assert [e.instance_id for e in n3.edges] == ["cells.0.n3.e0", "cells.0.n3.e1"]
    assert [p.op for p in n3.edges[0].op.calls] == ["identity"]
    dil = n3.edges[1].op.calls[1]
    assert dil.path == "dil_conv_3x3/dil_conv/1:conv"
    assert (dil.params.k, dil.params.pad, dil.params.dilation, dil.params.groups) == (3, 2, 2, 36)


def test_composite_expansion_params_context_and_paths() -> None:
    net = elaborate(darts_v2_cifar())
    sep = net.cells[6 + 1].nodes[0].edges[0].op  # sep_conv_3x3 at width 72
    assert isinstance(sep, Pipeline)
    assert [p.path for p in sep.calls] == [f"sep_conv_3x3/sep_conv/{i}:{o}" for i, o in enumerate(
        ["relu", "conv", "conv", "bn", "relu", "conv", "conv", "bn"])]
    convs = [p.params for p in sep.calls if p.op == "conv"]
    assert [(p.out, p.k, p.stride, p.pad, p.groups) for p in convs] == [
        (72, 3, 1, 1, 72), (72, 1, 1, 0, 1), (72, 3, 1, 1, 72), (72, 1, 1, 0, 1)]
    assert all(p.params.affine for p in sep.calls if p.op == "bn")
    stem = net.stems[0]
    assert [(p.path, p.out_shape) for p in stem.calls] == [("cifar_stem/0:conv", (108, 32, 32)),
                                                          ("cifar_stem/1:bn", (108, 32, 32))]


def test_paths_are_unique_within_every_pipeline() -> None:
    for m in (darts_v2_cifar(), darts_space(), darts_v2_imagenet()):
        net = elaborate(m)
        pipes = [*net.stems, net.head] + [i.op for c in net.cells for i in c.inputs if i.op]
        for c_ in net.cells:
            for n in c_.nodes:
                for e in n.edges:
                    pipes.extend(e.op.candidates if isinstance(e.op, Mixed) else [e.op])
        for p in pipes:
            paths = [x.path for x in p.calls]
            assert len(paths) == len(set(paths)), paths


def test_default_uses_earlier_param_and_explicit_args_override_context() -> None:
    edge_op = c("conv_bn", k=5)  # pad defaults to k // 2
    n = cell("normal", [node("n0", (edge_op, "s1")), node("n1", (c("conv_bn", C_out=8, k=1), "n0"))],
             output=("n1",))
    net = elaborate(model(cells=(n,), params={"layers": 1}, layout={"reductions": ()}))
    conv = net.cells[0].nodes[0].edges[0].op.calls[0]
    assert (conv.params.k, conv.params.pad, conv.params.out) == (5, 2, 36)
    assert net.cells[0].nodes[1].out_shape == (8, 32, 32)


def test_imagenet_stems_chain_and_first_cell_reduces_s0() -> None:
    net = elaborate(darts_v2_imagenet())
    assert [s.out_shape for s in net.stems] == [(48, 56, 56), (48, 28, 28)]
    assert net.stems[1].in_shape == (48, 56, 56)
    c0 = net.cells[0]
    assert [i.source for i in c0.inputs] == [0, 1]
    assert [p.op for p in c0.inputs[0].op.calls] == ["factorized_reduce"]
    assert [c.index for c in net.cells if c.reduction] == [4, 9]
    assert net.state_shapes[-1] == (768, 7, 7) and net.head.out_shape == (1000, 1, 1)
    assert net.aux is not None and net.aux.in_shape == (768, 7, 7)  # after the reduction cell 9


def test_search_space_choice_edges_are_mixed() -> None:
    net = elaborate(darts_space())
    assert [c.index for c in net.cells if c.reduction] == [2, 5]
    red = net.cells[2]
    e = red.nodes[1].edges[2]  # darts(n0) inside a reduction cell: stride 1
    assert e.id == "reduce.n1.e2" and isinstance(e.op, Mixed)
    assert e.op.names == ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                          "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
    assert [p.op for p in e.op.candidates[3].calls] == ["identity"]
    e0 = red.nodes[0].edges[0]  # reads s0: stride 2
    assert [p.op for p in e0.op.candidates[3].calls] == ["factorized_reduce"]
    assert e0.op.candidates[0].calls[0].params.stride == 2 and e0.out_shape == (32, 16, 16)
    assert all(not p.params.affine for c_ in e0.op.candidates for p in c_.calls if p.op == "bn")
    assert red.nodes[0].keep == 2
    # the stem and head are affine even in a search space
    assert net.stems[0].calls[1].params.affine


def test_pipelines_are_shared_between_instances() -> None:
    net = elaborate(darts_v2_cifar())
    a, b = net.cells[2].nodes[0].edges[0], net.cells[3].nodes[0].edges[0]
    assert a.op is b.op and a.instance_id != b.instance_id


def test_proj_combine_and_sum_output_and_three_inputs() -> None:
    n = cell("normal", [node("n0", ("relu", "a"), ("relu", "b"), ("relu", "c"), combine="proj"),
                        node("n1", ("identity", "n0"), ("max_pool_3x3", "c"), combine="concat")],
             inputs=("a", "b", "c"), output=("n0", "c"), pre="preprocess")
    n = n.model_copy(update={"output_combine": "sum"})
    stems = (c("cifar_stem", C_out=4), c("cifar_stem", C_out=6))
    net = elaborate(model(cells=(n,), params={"layers": 2, "C": 8}, layout={"reductions": ()}, stems=stems))
    c0, c1 = net.cells
    assert [i.source for i in c0.inputs] == [0, 0, 1]  # fewer states than inputs: the first repeats
    assert [i.source for i in c1.inputs] == [0, 1, 2]
    n0 = c0.nodes[0]
    assert n0.combine == "proj" and n0.proj is not None
    assert n0.proj.in_shape == (24, 32, 32) and n0.out_shape == (8, 32, 32)
    assert [(p.op, p.params.out if p.op == "conv" else None) for p in n0.proj.calls] == [("conv", 8), ("bn", None)]
    assert c0.nodes[1].out_shape == (16, 32, 32)
    assert c0.out_shape == (8, 32, 32)


def test_overrides_and_unknown_override() -> None:
    net = elaborate(darts_v2_cifar(), overrides={"C": 16, "layers": 8})
    assert len(net.cells) == 8 and net.cells[0].channels == 16 and net.params["C"] == 16
    with pytest.raises(ConfigError, match="unknown parameter `Cc`") as err:
        elaborate(darts_v2_cifar(), overrides={"Cc": 3})
    assert err.value.hint == "did you mean `C`?"


def test_growth_and_explicit_reductions() -> None:
    net = elaborate(model(params={"layers": 4}, layout={"reductions": (1,), "growth": 3}))
    assert [c.channels for c in net.cells] == [36, 108, 108, 108]
    with pytest.raises(ValidationError, match="reduction position 4 is not a cell"):
        elaborate(model(params={"layers": 4}, layout={"reductions": (4,)}))
    with pytest.raises(ValidationError, match=r"cell 0: 35 channels \* growth 1.5 is not an integer"):
        elaborate(model(params={"layers": 1, "C": 36}, layout={"reductions": (0,), "growth": 1.5, "channels": 35}))


# -- errors ---------------------------------------------------------------------------------

SPAN = Span(file="m.nas", line=7, col=9)


def _with_span(n: "object", span: Span) -> "object":
    return n.model_copy(update={"span": span})  # type: ignore[attr-defined]


def test_shape_error_names_edge_instance_shapes_and_span() -> None:
    bad = node("n0", ("sep_conv_3x3", "s0"), ("conv_bn", "s1"))
    e1 = bad.edges[1].model_copy(update={"op": c("conv_bn", k=3, stride=2), "span": SPAN})
    bad = bad.model_copy(update={"edges": (bad.edges[0], e1)})
    m = model(cells=(cell("normal", [bad]), V2_REDUCE), params={"layers": 3})
    with pytest.raises(ShapeError) as err:
        elaborate(m)
    e = err.value
    assert e.message == ("normal.n0.e1 (cells.0): sum node n0 expects (36, 32, 32) (the shape of normal.n0.e0) "
                         "but `conv_bn(s1)` gives (36, 16, 16)")
    assert e.span == SPAN and e.hint


def test_one_error_per_template_and_message_with_first_instance() -> None:
    bad = cell("normal", [node("n0", (c("conv_bn", k=3, stride=2), "s0"), ("relu", "s1"))])
    m = model(cells=(bad, V2_REDUCE), params={"layers": 20})
    with pytest.raises(Diagnostics) as err:
        elaborate(m)
    msgs = [e.message for e in err.value.errors]
    # one per distinct shape (cells 0-5 at 32x32, 7-12 at 16x16, 14-19 at 8x8), not one per cell
    assert msgs == [
        "normal.n0.e1 (cells.0, +5 more): sum node n0 expects (36, 16, 16) (the shape of normal.n0.e0) "
        "but `relu(s1)` gives (36, 32, 32)",
        "normal.n0.e1 (cells.7, +5 more): sum node n0 expects (72, 8, 8) (the shape of normal.n0.e0) "
        "but `relu(s1)` gives (72, 16, 16)",
        "normal.n0.e1 (cells.14, +5 more): sum node n0 expects (144, 4, 4) (the shape of normal.n0.e0) "
        "but `relu(s1)` gives (144, 8, 8)",
    ]


def test_errors_in_different_templates_are_collected() -> None:
    bad_n = cell("normal", [node("n0", (c("conv", k=3, groups=5), "s0"))])
    bad_r = cell("reduce", [node("n0", (c("max_pool", k=3, pad=2), "s0"))])
    with pytest.raises(Diagnostics) as err:
        elaborate(model(cells=(bad_n, bad_r), params={"layers": 3}))
    msgs = [e.message for e in err.value.errors]
    assert msgs == [
        "normal.n0.e0 (cells.0): conv: 36 input channels are not divisible by groups=5 (input (36, 32, 32))",
        # the two reduction cells see different inputs: two distinct messages
        "reduce.n0.e0 (cells.1): max_pool: pad 2x2 is more than half the 3x3 window (input (72, 32, 32))",
        "reduce.n0.e0 (cells.2): max_pool: pad 2x2 is more than half the 3x3 window (input (144, 16, 16))",
    ]


def test_error_inside_composite_reports_the_expansion_path() -> None:
    tiny = op("tiny", [c("relu"), c("conv", k="k")], {"k": None}, module="local")
    n = cell("normal", [node("n0", (c("tiny", k=9), "s1"))])
    with pytest.raises(ShapeError) as err:
        elaborate(model(cells=(n,), params={"layers": 1}, layout={"reductions": ()}, input=(3, 8, 8), ops=(tiny,)))
    assert err.value.message == (
        "normal.n0.e0 (cells.0): conv: a 9x9 window (dilation 1x1, pad 0x0) does not fit a 8x8 input "
        "(output would be 0x0) (at tiny/1:conv, input (36, 8, 8))")


def test_choice_candidates_must_agree_and_the_candidate_is_named() -> None:
    ch = Choice(candidates=(c("identity"), c("conv", k=3)))
    n = cell("normal", [node("n0", (ch, "s1"))])
    with pytest.raises(ShapeError) as err:
        elaborate(model(cells=(n,), params={"layers": 1}, layout={"reductions": ()}))
    assert err.value.message == ("normal.n0.e0 (cells.0): choice candidate `conv` gives (36, 30, 30) "
                                 "but `identity` gives (36, 32, 32)")


def test_unknown_op_arg_and_missing_param_are_errors_with_hints() -> None:
    def run(edge_op: object, ops: tuple = ()) -> ValidationError | NameResolutionError:
        n = cell("normal", [node("n0", (edge_op, "s1"))])
        with pytest.raises((ValidationError, NameResolutionError)) as err:
            elaborate(model(cells=(n,), params={"layers": 1}, layout={"reductions": ()}, ops=ops))
        return err.value  # type: ignore[return-value]

    e = run(c("sep_conv_3x4"))
    assert isinstance(e, NameResolutionError) and "unknown op `sep_conv_3x3`" not in e.message
    assert e.message == "normal.n0.e0 (cells.0): unknown op `sep_conv_3x4`" and e.hint == "did you mean `sep_conv_3x3`?"
    e = run(c("conv_bn", kk=3))
    assert e.message == "normal.n0.e0 (cells.0): op `conv_bn` has no parameter `kk`" and e.hint == "did you mean `k`?"
    e = run(c("conv", k=3, groupz=2))
    assert e.message == "normal.n0.e0 (cells.0): primitive `conv` has no parameter `groupz`"
    assert e.hint == "did you mean `groups`?"
    e = run(c("sep_conv", k=3))
    assert isinstance(e, ValidationError)
    assert e.message == "normal.n0.e0 (cells.0): op `sep_conv` needs parameter `pad`"
    e = run(c("conv", k=3, out="C_out / 2"))
    assert e.message.startswith("normal.n0.e0 (cells.0): `conv` argument `out`: ")
    assert e.message.endswith("got 18.0") and "//" in (e.hint or "")
    loop = (op("ping", [c("pong")], module="local"), op("pong", [c("ping")], module="local"))
    e = run(c("ping"), loop)
    assert e.message == "normal.n0.e0 (cells.0): op `ping` calls itself (ping -> pong -> ping) (at ping/pong/ping)"


def test_definition_errors_point_at_the_definition() -> None:
    inner = Span(file="ops.nas", line=3, col=5)
    bad = op("bad", [c("relu"), _with_span(c("conv", k=3, strde=2), inner)], module="local")
    n = cell("normal", [node("n0", (c("bad", span=SPAN), "s1"))])
    with pytest.raises(NameResolutionError) as err:
        elaborate(model(cells=(n,), params={"layers": 1}, layout={"reductions": ()}, ops=(bad,)))
    assert err.value.span == inner and "strde" in err.value.message


def test_stem_without_c_out_and_bad_head() -> None:
    with pytest.raises(ValidationError) as err:
        elaborate(model(stems=(c("cifar_stem", span=SPAN),), params={"layers": 1}))
    assert err.value.message == "stem 0: `conv` needs `out`: no C_out is implied here (at cifar_stem/0:conv)"
    assert err.value.span == SPAN
    with pytest.raises(ShapeError) as err2:
        elaborate(model(head=c("linear"), params={"layers": 1}))
    assert err2.value.message == "head: linear: expects a (C, 1, 1) input, got (288, 16, 16) (input (288, 16, 16))"
    assert err2.value.hint == "add `global_avg_pool` before `linear`"
    with pytest.raises(ShapeError, match=r"head: `global_avg_pool` gives \(288, 1, 1\), expected \(10, 1, 1\)"):
        elaborate(model(head=c("global_avg_pool"), params={"layers": 1}))


def test_aux_after_out_of_range() -> None:
    with pytest.raises(ValidationError, match="aux head after cell 20, but the network has 20 cells"):
        elaborate(darts_v2_cifar().model_copy(update={"aux": AuxHead(op=c("cifar_aux"), after="layers")}))


def test_if_condition_must_be_boolean() -> None:
    weird = op("weird", [if_("stride", [c("identity")], [c("relu")])], module="local")
    n = cell("normal", [node("n0", ("weird", "s1"))])
    with pytest.raises(ValidationError, match=r"`if stride` is 1, not true or false"):
        elaborate(model(cells=(n,), params={"layers": 1}, layout={"reductions": ()}, ops=(weird,)))


def test_unknown_state_is_reported() -> None:
    n = cell("normal", [node("n0", ("relu", "s2"))])
    with pytest.raises(NameResolutionError) as err:
        elaborate(model(cells=(n,), params={"layers": 1}, layout={"reductions": ()}))
    assert err.value.message == "normal.n0.e0 (cells.0): unknown state `s2`"
    assert err.value.hint == "an edge reads a cell input or an earlier node"


# -- speed and dependencies -----------------------------------------------------------------

def test_elaboration_work_grows_linearly_with_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    """Work, not time: nodes are elaborated once per cell instance (linear in cells) and op
    expansion is cached per distinct call and shape (constant beyond a few cells)."""
    import nasc.analysis.elaborate as elab
    import nasc.analysis.shapes as shapes

    counts = {"node": 0, "expand": 0}

    def counting(cls: type, name: str, key: str) -> None:
        real = getattr(cls, name)

        def wrapper(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            counts[key] += 1
            return real(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, wrapper)

    counting(shapes.Expander, "expand", "expand")
    elaborator = next(v for v in vars(elab).values() if isinstance(v, type) and hasattr(v, "_node"))
    counting(elaborator, "_node", "node")
    work = {}
    for layers in (20, 100, 1000):
        counts.update(node=0, expand=0)
        net = elaborate(darts_v2_cifar(params={"layers": layers}))
        assert len(net.cells) == layers
        work[layers] = dict(counts)
    assert [work[n]["node"] for n in (20, 100, 1000)] == [4 * 20, 4 * 100, 4 * 1000]
    assert work[1000]["expand"] == work[100]["expand"] == work[20]["expand"] > 0


def test_analysis_does_not_import_torch() -> None:
    code = ("import sys; sys.path.insert(0, 'tests/analysis'); import analysis_irkit as k; "
            "from nasc.analysis.elaborate import elaborate; from nasc.analysis.cost import cost; "
            "cost(elaborate(k.darts_space())); assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    assert r.returncode == 0, r.stderr


def test_std_ops_cover_the_kit() -> None:
    # the hand-built library mirrors stdlib_ops/std.nas op for op
    text = (__import__("pathlib").Path(__file__).resolve().parents[2] / "stdlib_ops" / "std.nas").read_text()
    defined = {line.split()[1].split("(")[0] for line in text.splitlines() if line.startswith("op ")}
    kit = {d.name for d in STD}
    assert kit <= defined, kit - defined
    assert V2_NORMAL.name == "normal"


def test_model_level_expressions_are_checked() -> None:
    with pytest.raises(NameResolutionError, match="unknown name `layrs`") as err:
        elaborate(model(layout={"cells": "layrs"}))
    assert err.value.hint == "did you mean `layers`?"
    with pytest.raises(ValidationError, match=r"cells must be an integer >= 0, got 10.0") as err2:
        elaborate(model(layout={"cells": "layers / 2"}))
    assert err2.value.hint == "use `//` for integer division"
    with pytest.raises(ValidationError, match="classes must be an integer >= 1, got 0"):
        elaborate(model(classes=0))
    with pytest.raises(NameResolutionError, match="no cell template `reduce` for the reduce cells"):
        elaborate(model(cells=(V2_NORMAL,)))
    # no reductions: a reduce template is not needed; no cells: the head reads the stem
    assert len(elaborate(model(cells=(V2_NORMAL,), layout={"reductions": ()})).cells) == 20
    net = elaborate(model(params={"layers": 0}))
    assert net.cells == () and net.head.in_shape == (108, 32, 32)


def test_a_network_needs_a_stem_and_identity_stem_feeds_the_input() -> None:
    with pytest.raises(ValidationError, match="a network needs at least one stem"):
        elaborate(model(stems=()))
    net = elaborate(model(stems=(c("identity"),), params={"layers": 1}, layout={"reductions": ()}))
    assert net.state_shapes[0] == (3, 32, 32) and net.cells[0].inputs[0].in_shape == (3, 32, 32)
