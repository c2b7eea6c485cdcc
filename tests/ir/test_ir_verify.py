"""`verify`: every structural check, on models written as text (spans) and built by hand."""
from __future__ import annotations

from pathlib import Path

import pytest

from nasc.errors import NameResolutionError, ValidationError
from nasc.frontend import load_model, parse_source
from nasc.ir.expr import Lit
from nasc.ir.model import Cell, Choice, Edge, Head, Layout, Model, Node, OpCall, Param
from nasc.ir.verify import lint, verify
from nasc.ops.registry import primitive_table

ROOT = Path(__file__).resolve().parents[2]

HEAD = "import std\n"
NET = """
network n {
  input = (3, 32, 32)
  classes = 10
  stem = cifar_stem(C_out=16)
  cells = 3
  channels = 8
  reductions = (1,)
  head = classifier
}
"""


def msgs(text: str) -> list[tuple[int, int, str]]:
    m = parse_source(text, "t.nas")
    return [(e.span.line if e.span else 0, e.span.col if e.span else 0, e.message) for e in verify(m, primitive_table())]


def cells(normal: str, reduce: str = "n0 = max_pool_3x3(s0)\n  return n0") -> str:
    return (f"cell normal(s0, s1) {{\n  {normal}\n}}\n"
            f"cell reduce(s0, s1) {{\n  {reduce}\n}}\n")


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.nas")), ids=lambda p: p.name)
def test_examples_verify_clean_and_lint_clean(path):
    m = load_model(path)
    assert verify(m, primitive_table()) == [] and lint(m) == []


def test_duplicates():
    text = HEAD + "param a = 1\nparam a = 2\nop x = relu\nop x = bn\n" + cells(
        "n0 = s0\n  n0 = s1\n  return n0") + "cell reduce(s0) {\n  return s0\n}\n" + NET
    out = msgs(text)
    assert (3, 7, "duplicate param `a`") in out
    assert (5, 4, "duplicate op `x`") in out
    assert (8, 3, "duplicate node `n0` in cell `normal`") in out
    assert (15, 6, "duplicate cell `reduce`") in out


def test_duplicate_inputs_and_node_named_like_an_input():
    text = HEAD + "cell normal(s0, s0) {\n  s0 = relu(s0)\n  return s0\n}\n" + cells("", "n0 = s0\n  return n0").split(
        "cell reduce")[0].replace("cell normal(s0, s1) {\n  \n}\n", "") + "cell reduce(s0) {\n  n0 = s0\n  return n0\n}\n" + NET
    out = msgs(text)
    assert (2, 17, "duplicate input of cell `normal` `s0`") in out
    assert (3, 3, "node `s0` has the name of an input of cell `normal`") in out


def test_unknown_names_in_expressions_and_arguments():
    text = HEAD + "param C = 4\nop x(k) = conv(k=kk, out=C_out)\n" + cells(
        "n0 = conv_bn(s0, k=1, wat=2) + relu(s1, inplace=true)\n  return n0") + NET.replace("cells = 3", "cells = layers")
    out = msgs(text)
    assert (3, 18, "unknown name `kk` in argument `k` of `conv`") in out
    assert (5, 8, "op `conv_bn` has no parameter `wat`") in out
    assert (5, 34, "primitive `relu` has no parameter `inplace`") in out
    assert (17, 11, "unknown name `layers` in `cells`") in out


def test_missing_required_arguments():
    out = msgs(HEAD + "op x = sep_conv(k=3)\nop y = conv(out=3)\n" + cells("n0 = x(s0)\n  return n0") + NET)
    assert (2, 8, "op `sep_conv` needs argument `pad`") in out
    assert (3, 8, "primitive `conv` needs argument `k`") in out


def test_recursive_composites():
    out = msgs(HEAD + "op a { relu b }\nop b { if stride == 1 { a } }\nop c { c }\n" + cells("n0 = a(s0)\n  return n0") + NET)
    assert (2, 4, "op `a` is recursive: a -> b -> a") in out
    assert (4, 4, "op `c` is recursive: c -> c") in out


def test_cycles_and_unknown_states():
    out = msgs(HEAD + cells("n0 = relu(n1)\n  n1 = n1 + s2\n  return n1") + NET)
    assert (3, 8, "node `n0` reads `n1`, which is defined later (a cycle)") in out
    assert (4, 8, "node `n1` reads itself (a cycle)") in out
    assert (4, 13, "unknown state `s2` in cell `normal`") in out


def test_op_name_used_as_a_state_gets_a_hint():
    m = parse_source(HEAD + cells("n0 = sep_conv_3x3 + s0\n  return n0") + NET, "t.nas")
    (e,) = verify(m, primitive_table())
    assert e.hint == "`sep_conv_3x3` is an op: write `sep_conv_3x3(state)`"


def test_keep_and_choices():
    text = HEAD + "choice a = [relu, bn]\nchoice b = [relu, bn, identity]\n" + cells(
        "n0 = a(s0) + b(s1) keep 3\n  n1 = [](s0) keep 0\n  return n1").replace("[](s0)", "[relu](s0)") + NET
    out = msgs(text)
    assert (5, 3, "node `n0` keeps 3 of its 2 edges") in out
    assert (5, 16, "choice with 3 candidates in cell `normal`, whose first choice has 2") in out
    assert (6, 3, "node `n1` keeps 0 of its 1 edges") in out
    assert (6, 8, "choice with 1 candidates in cell `normal`, whose first choice has 2") in out


def test_hand_built_ir_without_spans():
    bad = Model(
        name="m", input=(Lit(value=3), Lit(value=8), Lit(value=8)), classes=Lit(value=2),
        stems=(OpCall(op="identity"),), head=Head(op=OpCall(op="identity")),
        cells=(Cell(name="normal", inputs=(), nodes=(
            Node(name="n0", edges=()),
            Node(name="n1", edges=(Edge(input="n0", op=Choice(candidates=())),)),
        ), output=("n9",)),),
        layout=Layout(cells=Lit(value=4), channels=Lit(value=4), reductions=(Lit(value=4), Lit(value=1), Lit(value=1))),
    )
    out = {e.message: type(e) for e in verify(bad, primitive_table())}
    assert out == {
        "cell `normal` has no inputs": ValidationError,
        "node `n0` has no edges": ValidationError,
        "a choice needs at least one candidate": ValidationError,
        "cell `normal` returns unknown state `n9`": NameResolutionError,
        "reduction at cell 4, but the network has 4 cells (0 to 3)": ValidationError,
        "reduction at cell 1 is listed twice": ValidationError,
        "the network uses cell template `reduce`, which is not defined": NameResolutionError,
    }


def test_network_ranges():
    net = NET.replace("classes = 10", "classes = 0").replace("cells = 3", "cells = 3.5").replace(
        "channels = 8", "channels = 8\n  growth = -1").replace("head = classifier", "head = classifier\n  aux = cifar_aux after 7 weight -1")
    out = [m for _, _, m in msgs(HEAD + cells("n0 = s0\n  return n0") + net)]
    assert "`classes` is 0; it must be at least 1" in out
    assert "`cells` must be an integer, got 3.5" in out
    assert "`growth` must be a positive number, got -1" in out
    assert "the aux weight must be a number >= 0, got -1" in out


def test_aux_after_out_of_range_and_missing_template():
    net = NET.replace("head = classifier", "head = classifier\n  aux = cifar_aux after 3\n  normal = norml")
    out = msgs(HEAD + cells("n0 = s0\n  return n0") + net)
    assert (19, 25, "`aux ... after` is 3; it must be between 0 and 2") in out
    assert (11, 9, "the network uses cell template `norml`, which is not defined") in out


def test_unknown_op_everywhere_and_primitive_arity():
    text = HEAD + cells("n0 = s0\n  return n0").replace("cell normal(s0, s1)", "cell normal(s0: prepocess, s1)") + NET.replace(
        "stem = cifar_stem(C_out=16)", "stem = cifar_stme(C_out=16)").replace("head = classifier", "head = clasifier")
    m = parse_source(text, "t.nas")
    errs = verify(m, primitive_table())
    assert [(e.message, e.hint) for e in errs] == [
        ("unknown op `prepocess` in the preprocessing of `s0`", "did you mean `preprocess`?"),
        ("unknown op `cifar_stme` in the stem", "did you mean `cifar_stem`?"),
        ("unknown op `clasifier` in the head", "did you mean `classifier`?"),
    ]


def test_nothing_imported_hint():
    m = parse_source(cells("n0 = sep_conv_3x3(s0)\n  return n0") + NET.replace("cifar_stem(C_out=16)", "relu").replace(
        "classifier", "linear"), "t.nas")
    e = verify(m, primitive_table())[0]
    assert e.message == "unknown op `sep_conv_3x3` in cell `normal`"
    assert e.hint == "nothing is imported: add `import std` for the standard ops"


def test_lint_reports_unused_nodes():
    m = parse_source(HEAD + cells("n0 = s0\n  n1 = relu(s1)\n  return n0") + NET, "t.nas")
    assert verify(m, primitive_table()) == []
    (w,) = lint(m)
    assert w.kind == "warning" and w.message == "the output of node `n1` in cell `normal` is never used"
    assert (w.span.line, w.span.col) == (4, 3)


def test_names_must_read_back_as_names() -> None:
    # the first node may lex as a name, but the printer's output must parse: verify refuses it
    m = msgs(HEAD + cells("keep = max_pool_3x3(s0)\n  return keep") + NET)
    assert (3, 3, "node `keep` of cell `normal` is a reserved word of nasc") in m
    # a name with a space can only come from YAML or a pass
    base = parse_source(HEAD + cells("n0 = max_pool_3x3(s0)\n  return n0") + NET, "t.nas")
    odd = base.model_copy(update={"params": (Param(name="C 2", default=1),)})
    errs = [e.message for e in verify(odd, primitive_table())]
    assert "param `C 2` is not a name (letters, digits and `_`, not starting with a digit)" in errs
