"""The canonical printer: parse(print(ir)) == ir, canonical forms, comments kept, idempotent."""
from __future__ import annotations

from pathlib import Path

import pytest

from nasc.frontend import load_model, parse_source
from nasc.frontend.dsl import read_source
from nasc.ir.expr import Lit, parse_expr
from nasc.ir.model import Choice, Edge, Node, OpCall
from nasc.ir.printer import format_edge, format_node, print_library, print_model

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.nas")) + sorted((ROOT / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_round_trip_every_example(path):
    m = load_model(path)
    text = print_model(m)
    again = parse_source(text, str(path.with_suffix(".nas")))
    assert again == m
    assert print_model(again) == text  # printing is a function of the IR


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.suffix == ".nas"], ids=lambda p: p.name)
def test_formatting_with_comments_is_idempotent_and_keeps_every_comment(path):
    text = path.read_text()
    m = parse_source(text, str(path))
    once = print_model(m, read_source(text, str(path)))
    twice = print_model(parse_source(once, str(path)), read_source(once, str(path)))
    assert once == twice
    comments = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("#")]
    assert [ln.strip() for ln in once.splitlines() if ln.strip().startswith("#")] == comments


def test_imported_ops_are_not_printed_but_the_import_is():
    m = load_model(ROOT / "examples" / "nasbench101_cell.nas")
    text = print_model(m)
    assert text.count("\nop ") == 3 and "op sep_conv" not in text and text.startswith("import std\n")


def test_canonical_text_of_resnet20_is_the_example():
    path = ROOT / "examples" / "resnet20.nas"
    text = path.read_text()
    assert print_model(load_model(path), read_source(text, str(path))) == text


def test_named_choice_printed_once_inline_choice_inline():
    src = """import std

choice c = [relu, conv_bn(k=1)]

cell normal(s0) {
  n0 = c(s0) + c(s0) keep 1
  n1 = [relu, identity](n0)
  return n1
}

network n {
  input = (3, 8, 8)
  classes = 2
  stem = cifar_stem(C_out=4)
  cells = 1
  channels = 4
  reductions = ()
  head = classifier
}
"""
    m = parse_source(src, "t.nas")
    out = print_model(m)
    assert out == src
    assert out.count("choice c =") == 1


def test_edges_and_nodes_print_canonically():
    ident = Edge(input="s0", op=OpCall(op="identity"))
    assert format_edge(ident) == "s0"
    assert format_edge(ident.model_copy(update={"drop_path": True})) == "identity(s0, drop_path=true)"
    conv = Edge(input="n0", op=OpCall(op="conv_bn", args={"k": Lit(value=1), "pad": parse_expr("k // 2")}))
    assert format_edge(conv) == "conv_bn(n0, k=1, pad=k // 2)"
    ch = Edge(input="s1", op=Choice(candidates=(OpCall(op="relu"), OpCall(op="zero", args={"stride": Lit(value=2)}))))
    assert format_edge(ch) == "[relu, zero(stride=2)](s1)"
    assert format_node(Node(name="n", edges=(ident, conv), keep=1)) == "n = s0 + conv_bn(n0, k=1, pad=k // 2) keep 1"
    assert format_node(Node(name="n", edges=(ident, conv), combine="proj")) == "n = proj(s0, conv_bn(n0, k=1, pad=k // 2))"


def test_drop_path_and_pass_made_ir_round_trips():
    m = load_model(ROOT / "examples" / "darts_v2_cifar.nas")
    cell = m.cells[0]
    nodes = tuple(n.model_copy(update={"edges": tuple(e.model_copy(update={"drop_path": True}) for e in n.edges)})
                  for n in cell.nodes)
    m2 = m.model_copy(update={"cells": (cell.model_copy(update={"nodes": nodes}),) + m.cells[1:]})
    text = print_model(m2)
    assert "sep_conv_3x3(s0, drop_path=true)" in text
    assert parse_source(text, "x.nas") == m2


def test_network_defaults_are_not_printed_and_non_defaults_are():
    m = load_model(ROOT / "examples" / "darts_space.nas")
    text = print_model(m)
    assert "reductions" not in text and "growth" not in text and "affine = false" in text
    m2 = m.model_copy(update={"layout": m.layout.model_copy(update={"growth": Lit(value=1.5), "normal": "reduce"}),
                              "affine": True})
    text2 = print_model(m2)
    assert "growth = 1.5" in text2 and "normal = reduce" in text2 and "affine" not in text2
    assert parse_source(text2, "x.nas") == m2


def test_long_choice_lines_wrap_under_the_bracket():
    m = load_model(ROOT / "examples" / "darts_space.nas")
    lines = print_model(m).splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("choice darts = ["))
    assert len(lines[i]) <= 100 and lines[i + 1].startswith(" " * len("choice darts = [")) and lines[i + 1].endswith("]")


def test_std_library_formats_idempotently_and_keeps_docs():
    path = ROOT / "stdlib_ops" / "std.nas"
    text = path.read_text()
    src = read_source(text, str(path))
    once = print_library([i.name for i in src.imports], src.ops, src)
    src2 = read_source(once, str(path))
    assert src2.ops == src.ops
    assert print_library([i.name for i in src2.imports], src2.ops, src2) == once
    assert "# a residual shortcut: identity when shapes agree, else a strided 1x1 conv + bn\nop shortcut {" in once
    assert "op sep_conv_3x3 = sep_conv(k=3, pad=1)\nop sep_conv_5x5 = sep_conv(k=5, pad=2)\n" in once
    assert "  if stride == 1 { identity } else { factorized_reduce }\n" in once


def test_comments_follow_their_items_when_items_are_reordered():
    src = """import std
# the space
cell normal(s0, s1) {
  # first node
  n0 = sep_conv_3x3(s0) + s1  # trailing
  return n0
}
# a local op
op mine = relu
network n {
  input = (3, 8, 8)  # CHW
  classes = 2
  stem = cifar_stem(C_out=4)
  cells = 1
  channels = 4
  reductions = ()
  normal = normal
  head = classifier
}
# end
"""
    m = parse_source(src, "t.nas")
    out = print_model(m, read_source(src, "t.nas"))
    assert out == """import std

# a local op
op mine = relu

# the space
cell normal(s0, s1) {
  # first node
  n0 = sep_conv_3x3(s0) + s1  # trailing
  return n0
}

network n {
  input = (3, 8, 8)  # CHW
  classes = 2
  stem = cifar_stem(C_out=4)
  cells = 1
  channels = 4
  reductions = ()
  head = classifier
}

# end
"""
    assert print_model(parse_source(out, "t.nas"), read_source(out, "t.nas")) == out


def test_if_statements_print_multi_line_when_nested():
    src = "import std\n\nop a {\n  if stride == 1 {\n    identity\n  } else if C_in == C_out {\n    relu\n  } else {\n    conv(k=1)\n    bn\n  }\n}\n"
    s = read_source(src, "lib.nas")
    assert print_library(["std"], s.ops, s) == src
