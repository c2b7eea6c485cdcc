"""The .nas and YAML front ends: every example loads, constructs map to the right IR, spans."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nas_helpers import EXAMPLES, model_of

from nasc.frontend import load_model, parse_source
from nasc.frontend.dsl import read_source
from nasc.ir.expr import BinOp, Lit, Neg, Ref, TupleExpr, format_expr, parse_expr
from nasc.ir.model import Choice, IfStmt, OpCall

NAS_EXAMPLES = sorted(EXAMPLES.glob("*.nas"))
YAML_EXAMPLES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("path", NAS_EXAMPLES + YAML_EXAMPLES, ids=lambda p: p.name)
def test_every_example_loads_and_verifies(path):
    m = load_model(path)
    assert m.cells and m.stems
    assert all(d.module == "std" for d in m.ops if d.name == "sep_conv_3x3")


@pytest.mark.parametrize("yaml_path", YAML_EXAMPLES, ids=lambda p: p.name)
def test_yaml_twin_gives_the_same_ir_as_the_nas_file(yaml_path):
    nas = yaml_path.with_suffix(".nas")
    assert load_model(yaml_path) == load_model(nas)


def test_twins_exist_for_the_required_examples():
    names = {p.stem for p in YAML_EXAMPLES}
    assert {"darts_v2_cifar", "resnet20"} <= names


def test_darts_v2_cifar_structure():
    m = load_model(EXAMPLES / "darts_v2_cifar.nas")
    assert m.name == "darts_v2_cifar" and m.imports == ("std",)
    assert [(p.name, p.default) for p in m.params] == [("C", 36), ("layers", 20), ("classes", 10)]
    normal = m.cell("normal")
    assert normal is not None
    assert [i.name for i in normal.inputs] == ["s0", "s1"]
    assert normal.inputs[0].op == OpCall(op="preprocess")
    n3 = normal.nodes[3]
    assert n3.name == "n3" and n3.combine == "sum"
    assert [(e.input, e.op.op) for e in n3.edges] == [("s0", "skip_connect"), ("n0", "dil_conv_3x3")]
    assert normal.output == ("n0", "n1", "n2", "n3") and normal.output_combine == "concat"
    assert m.stems == (OpCall(op="cifar_stem", args={"C_out": parse_expr("C * 3")}),)
    assert m.layout.reductions == (parse_expr("layers // 3"), parse_expr("2 * layers // 3"))
    assert m.aux is not None and m.aux.after == parse_expr("2 * layers // 3") and m.aux.weight == Lit(value=0.4)
    # imported ops first (in import order), then local ones; imported ones know their module
    assert [d.module for d in m.ops] == ["std"] * len(m.ops)


def test_darts_space_choices_and_keep():
    m = load_model(EXAMPLES / "darts_space.nas")
    n1 = m.cell("normal").nodes[1]
    assert n1.keep == 2 and len(n1.edges) == 3
    ch = n1.edges[0].op
    assert isinstance(ch, Choice) and ch.name == "darts"
    assert [c.op for c in ch.candidates] == ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                                             "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
    assert m.affine is False and m.layout.reductions is None


EXPRESSIONS = [
    "1", "2.5", "1e3", ".5", "3.", "true", "false", "'max'", '"avg"', "C", "C * 3", "C_in // 2",
    "2 * layers // 3", "a - b - c", "a - (b - c)", "-a * b", "- - a", "not a and b", "not (a and b)",
    "a or b and c", "a < b < c", "a == 1 or b != 2", "(1, stride)", "(1,)", "(a, (b, c), -1)",
    "1 + 2 * 3 - 4 / 5 % 6", "(1 + 2) * 3", "a >= b and c <= d or e > f",
]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_expressions_print_and_read_back(text):
    e = parse_expr(text)
    assert parse_expr(format_expr(e)) == e


def test_expression_tree_shapes():
    m = model_of("op probe = conv(a=-x * 2, b=(1, 7), c=not p or q)")
    args = m.op_def("probe").body[0].args
    assert args["a"] == BinOp(op="*", lhs=Neg(operand=Ref(name="x")), rhs=Lit(value=2))
    assert args["b"] == TupleExpr(items=(Lit(value=1), Lit(value=7)))
    assert args["c"] == BinOp(op="or", lhs=Neg(op="not", operand=Ref(name="p")), rhs=Ref(name="q"))


def test_op_forms_params_if_and_separators():
    m = model_of("""
op a(k, pad=k // 2) { relu; conv(k=k, pad=pad) bn }
op b = a(k=3)
op c { if stride == 1 { identity } else if C_in == C_out { relu } else { conv(k=1) bn } }
""")
    a = m.op_def("a")
    assert [(p.name, p.default) for p in a.params] == [("k", None), ("pad", parse_expr("k // 2"))]
    assert [s.op for s in a.body] == ["relu", "conv", "bn"]
    assert m.op_def("b").body == (OpCall(op="a", args={"k": Lit(value=3)}),)
    (top,) = m.op_def("c").body
    assert isinstance(top, IfStmt) and top.then == (OpCall(op="identity"),)
    (inner,) = top.orelse
    assert isinstance(inner, IfStmt) and inner.cond == parse_expr("C_in == C_out")
    assert [s.op for s in inner.orelse] == ["conv", "bn"]
    assert all(d.module == "local" for d in m.ops if d.name in "abc")


def test_cell_constructs():
    m = model_of("choice pick = [max_pool_3x3, conv_bn(k=1)]", cells="""
cell normal(s0: preprocess, s1) {
  n0 = sep_conv_3x3(s0) + s1
  n1 = concat(conv_bn(n0, k=1), s1)
  n2 = proj(n0, n1)
  n3 = [max_pool_3x3, identity](n2) + pick(s0) keep 1
  n4 = sum(relu(n3), identity(n0, drop_path=true))
  return n4
}
cell reduce(s0, s1) { n0 = s0 + s1; return n0 + s1 }
""")
    c = m.cell("normal")
    n0, n1, n2, n3, n4 = c.nodes
    assert n0.edges[1].op == OpCall(op="identity") and n0.edges[1].input == "s1"
    assert n1.combine == "concat" and n1.edges[0].op == OpCall(op="conv_bn", args={"k": Lit(value=1)})
    assert n2.combine == "proj" and [e.input for e in n2.edges] == ["n0", "n1"]
    inline, named = n3.edges[0].op, n3.edges[1].op
    assert isinstance(inline, Choice) and inline.name is None
    assert [x.op for x in inline.candidates] == ["max_pool_3x3", "identity"]
    assert isinstance(named, Choice) and named.name == "pick" and named.candidates[1].args == {"k": Lit(value=1)}
    assert n3.keep == 1
    assert n4.combine == "sum" and n4.edges[1].drop_path and not n4.edges[0].drop_path
    assert c.output == ("n4",) and c.output_combine == "concat"
    r = m.cell("reduce")
    assert r.output == ("n0", "s1") and r.output_combine == "sum"


def test_network_keys():
    m = model_of("param L = 6", network="""
network net {
  input = (3, 64, 64); classes = 100
  stem = cifar_stem(C_out=16)
  stem = imagenet_stem1(C_out=16)
  cells = L
  channels = 8
  reductions = ()
  normal = normal
  reduce = reduce
  growth = 3
  head = classifier
  aux = cifar_aux after L - 2 weight 0.25
  affine = false
}
""")
    assert [s.op for s in m.stems] == ["cifar_stem", "imagenet_stem1"]
    assert m.layout.reductions == () and m.layout.growth == Lit(value=3)
    assert m.aux.weight == Lit(value=0.25) and m.aux.after == parse_expr("L - 2")
    assert m.input == (Lit(value=3), Lit(value=64), Lit(value=64)) and m.affine is False


def test_aux_weight_defaults_to_0_4():
    m = model_of("", network=NETWORK_WITH_AUX)
    assert m.aux.weight == Lit(value=0.4)


NETWORK_WITH_AUX = """
network net {
  input = (3, 32, 32)
  classes = 10
  stem = cifar_stem(C_out=16)
  cells = 3
  channels = 8
  head = classifier
  aux = cifar_aux after 1
}
"""


def test_spans_point_into_the_source():
    text = (EXAMPLES / "darts_v2_cifar.nas").read_text()
    m = parse_source(text, "x.nas")
    n0 = m.cell("normal").nodes[0]
    assert (n0.span.file, n0.span.line, n0.span.col) == ("x.nas", 10, 3)
    e1 = n0.edges[1]
    assert (e1.span.line, e1.span.col, e1.span.end_col) == (10, 27, 43)  # `sep_conv_3x3(s1)`
    assert (m.span.line, m.span.col) == (25, 9)  # the network name
    assert m.layout.cells.span.line == 29
    std_op = m.op_def("sep_conv")
    assert std_op.span.file.endswith("std.nas")


def test_op_doc_comments():
    src = read_source("# first line\n#\n# third\nop a = relu\n\n# not a doc\n\nop b = relu\n", "lib.nas")
    assert src.ops[0].doc == "first line\n\nthird"
    assert src.ops[1].doc is None
    assert [c.text for c in src.comments] == ["# not a doc"]


def test_param_literals():
    m = model_of("param a = -3\nparam b = 0.5\nparam c = true\nparam d = 'sgd'")
    assert [p.default for p in m.params] == [-3, 0.5, True, "sgd"]


# ---- property: every printed expression reads back (in a .nas file and as a scalar) -------------

_ops = ["+", "-", "*", "/", "//", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or"]
_leaves = st.one_of(
    st.integers(0, 10**6).map(lambda v: Lit(value=v)),
    st.floats(0, 1e6, allow_nan=False, allow_infinity=False).map(lambda v: Lit(value=v)),
    st.booleans().map(lambda v: Lit(value=v)),
    st.sampled_from(["max", "avg", ""]).map(lambda v: Lit(value=v)),
    st.sampled_from(["C", "C_in", "stride", "layers", "k"]).map(lambda v: Ref(name=v)),
)
_exprs = st.recursive(_leaves, lambda sub: st.one_of(
    st.tuples(st.sampled_from(_ops), sub, sub).map(lambda t: BinOp(op=t[0], lhs=t[1], rhs=t[2])),
    st.tuples(st.sampled_from(["-", "not"]), sub).map(lambda t: Neg(op=t[0], operand=t[1])),
    st.lists(sub, min_size=1, max_size=3).map(lambda xs: TupleExpr(items=tuple(xs))),
), max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(_exprs)
def test_printed_expressions_parse_back(e):
    text = format_expr(e)
    (op,) = read_source(f"op probe = conv(k={text})", "t.nas").ops
    assert op.body[0].args["k"] == parse_expr(text) == e
