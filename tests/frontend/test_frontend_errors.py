"""Errors on bad input: the right class, the exact line and column, a useful hint; all collected."""
from __future__ import annotations

import pytest
from nas_helpers import CELLS, EXAMPLES, NETWORK, errors_of, where

from nasc.errors import (
    ConfigError, Diagnostics, NameResolutionError, NascError, ParseError, ValidationError,
)
from nasc.frontend import load_model, parse_source

CIFAR = (EXAMPLES / "darts_v2_cifar.nas").read_text()


def one_error(text: str, path: str = "t.nas") -> NascError:
    errs = errors_of(text, path)
    assert len(errs) == 1, [str(e) for e in errs]
    return errs[0]


def test_unknown_op_with_did_you_mean():
    text = CIFAR.replace("n2 = sep_conv_3x3(s1)", "n2 = sep_conv_3x33(s1)", 1)
    e = one_error(text)
    assert isinstance(e, NameResolutionError)
    assert "unknown op `sep_conv_3x33`" in e.message
    assert where(e) == (12, 8) and e.hint == "did you mean `sep_conv_3x3`?"


def test_unknown_op_suggests_a_choice_name():
    text = (EXAMPLES / "darts_space.nas").read_text().replace("n0 = darts(s0) + darts(s1) keep 2",
                                                             "n0 = dart(s0) + darts(s1) keep 2", 1)
    e = one_error(text)
    assert where(e) == (13, 8) and e.hint == "did you mean `darts`?"


def test_unknown_state():
    text = CIFAR.replace("n3 = skip_connect(s0) + dil_conv_3x3(n0)", "n3 = skip_connect(s0) + dil_conv_3x3(n9)")
    e = one_error(text)
    assert isinstance(e, NameResolutionError) and "unknown state `n9`" in e.message
    assert where(e) == (13, 27)
    assert e.span.end_col == 43  # the whole edge `dil_conv_3x3(n9)`


def test_reading_a_later_node_is_a_cycle():
    text = CIFAR.replace("n0 = sep_conv_3x3(s0) + sep_conv_3x3(s1)", "n0 = sep_conv_3x3(n1) + sep_conv_3x3(s1)", 1)
    e = one_error(text)
    assert isinstance(e, ValidationError) and "cycle" in e.message and "`n1`" in e.message
    assert where(e) == (10, 8)


def test_missing_paren_is_reported_where_it_belongs():
    text = CIFAR.replace("n1 = sep_conv_3x3(s0) + sep_conv_3x3(s1)", "n1 = sep_conv_3x3(s0 + sep_conv_3x3(s1)", 1)
    e = one_error(text)
    assert isinstance(e, ParseError)
    # `s0 +` : the `+` is unexpected inside the argument list; the position is the `+`
    assert where(e) == (11, 24)
    text = CIFAR.replace("n1 = sep_conv_3x3(s0) + sep_conv_3x3(s1)", "n1 = sep_conv_3x3(s0) + sep_conv_3x3(s1", 1)
    e = one_error(text)
    assert e.message == "missing `)`"
    assert where(e) == (11, 42)  # right after `s1`, not on the next line
    assert e.hint == "to close the `(` at line 11, column 39"


def test_missing_brace_at_end_of_file():
    e = one_error("import std\nop a {\n  relu\n")
    assert e.message == "missing `}`" and where(e) == (3, 7) and "line 2, column 6" in e.hint


def test_duplicate_node():
    text = CIFAR.replace("n2 = sep_conv_3x3(s1) + skip_connect(s0)", "n1 = sep_conv_3x3(s1) + skip_connect(s0)", 1)
    errs = errors_of(text)
    dup = [e for e in errs if "duplicate node" in e.message]
    assert len(dup) == 1 and where(dup[0]) == (12, 3) and dup[0].hint == "first defined at line 11"


@pytest.mark.parametrize(("text", "message", "pos"), [
    ("import std\nparam C 16\n", "missing `=` after the param name", (2, 9)),
    ("import std\nop a := relu\n", "an op needs a body", (2, 6)),
    ("import std\ncel normal(x) { }\n", "unknown keyword `cel`", (2, 1)),
    ("import std\ncell normal { }\n", "a cell lists its input states in parentheses", (2, 13)),
    ("import std\nnetwork n {\n  cells 8\n}\n", "missing `=` after the network key", (3, 9)),
    ("import std\ncell c(x) {\n  n0 a(x)\n}\n", "missing `=` after the node name", (3, 6)),
    ("import std\nop a { if x == 1 identity }\n", "`if` branches need braces", (2, 18)),
    ("param x = 1 @ 2\n", "unexpected character `@`", (1, 13)),
])
def test_syntax_errors(text, message, pos):
    e = one_error(text)
    assert isinstance(e, ParseError)
    assert e.message == message and where(e) == pos


def test_unknown_keyword_hint():
    e = one_error("import std\ncel normal(x) { }\n")
    assert e.hint == "did you mean `cell`?"


def test_network_errors_are_collected_with_cell_errors():
    text = CIFAR.replace("  channels = C\n", "  chanels = C\n").replace("n2 = sep_conv_3x3(s1)", "n2 = sep_conv_3x33(s1)", 1)
    errs = errors_of(text)
    msgs = [(where(e), e.message) for e in errs]
    assert msgs == [
        ((12, 8), "unknown op `sep_conv_3x33` in cell `normal`"),
        ((25, 9), "network `darts_v2_cifar` has no `channels`"),
        ((30, 3), "unknown network key `chanels`"),
    ]
    assert errs[2].hint == "did you mean `channels`?"


def test_diagnostics_are_sorted_by_position():
    text = CIFAR.replace("n3 = skip_connect(s0)", "n3 = skip_connectt(s0)").replace(
        "n0 = max_pool_3x3(s0)", "n0 = max_pool_3x33(s0)")
    with pytest.raises(Diagnostics) as ei:
        parse_and_verify(text)
    assert [where(e) for e in ei.value.errors] == [(13, 8), (18, 8)]


def parse_and_verify(text: str) -> None:
    from nasc.ir.verify import verify
    from nasc.ops.registry import primitive_table

    m = parse_source(text, "t.nas")
    errs = verify(m, primitive_table())
    if errs:
        raise Diagnostics(errs)


def test_param_default_must_be_a_literal():
    e = one_error("import std\nparam a = 2\nparam b = a * 2\n" + CELLS + NETWORK)
    assert isinstance(e, ValidationError) and where(e) == (3, 11)


@pytest.mark.parametrize(("network", "message"), [
    ("network n { input = (3, 32) classes = 10 stem = s cells = 1 channels = 1 head = h }",
     "`input` must be a (channels, height, width) tuple"),
    ("network n { input = (3, 32, 32) classes = 10 stem = cifar_stem(C_out=8) cells = 1 channels = 1 "
     "head = classifier aux = cifar_aux }", "`aux` needs the cell it reads: `aux = OP after CELL_INDEX`"),
    ("network n { input = (3, 32, 32) classes = 10 stem = cifar_stem(C_out=8) cells = 1 cells = 2 "
     "channels = 1 head = classifier }", "network key `cells` is given twice"),
    ("network n { input = (3, 32, 32) classes = 10 stem = 3 cells = 1 channels = 1 head = classifier }",
     "`stem` must be an op, e.g. `stem = classifier`"),
    ("network n { input = (3, 32, 32) classes = 10 stem = cifar_stem(C_out=8) cells = 1 channels = 1 "
     "head = classifier affine = 1 }", "`affine` must be true or false"),
])
def test_network_value_errors(network, message):
    errs = errors_of("import std\n" + CELLS + network)
    assert message in [e.message for e in errs]


def test_missing_required_network_key():
    e = one_error("import std\n" + CELLS + "network n {\n  input = (3, 32, 32)\n  classes = 10\n"
                  "  stem = cifar_stem(C_out=8)\n  channels = 4\n  head = classifier\n}\n")
    assert e.message == "network `n` has no `cells`" and where(e) == (11, 9) and e.hint == "add `cells = 8`"


def test_no_network():
    e = one_error("import std\n" + CELLS)
    assert e.message == "the file defines no `network`" and where(e) == (1, 1)


def test_edge_shape_errors():
    bad = {
        "n0 = sep_conv_3x3(s0, s1)": "an edge reads one state, `sep_conv_3x3` is given 2",
        "n0 = sep_conv_3x3(k=1)": "edge `sep_conv_3x3(...)` needs an input state",
        "n0 = relu(sep_conv_3x3(s0))": "ops cannot be nested: the input of an edge is a state name",
        "n0 = concat(s0, s1) + s0": "`concat(...)` combines the whole node and cannot be summed",
    }
    for line, message in bad.items():
        errs = errors_of("import std\ncell normal(s0, s1) {\n  " + line + "\n  return n0\n}\n"
                         + CELLS.replace("cell normal", "cell other") + NETWORK)
        assert message in [e.message for e in errs], (line, [e.message for e in errs])
        assert all(e.span.line == 3 for e in errs if e.message == message)


def test_return_must_name_states():
    errs = errors_of("import std\ncell normal(s0, s1) {\n  n0 = s0\n  return relu(n0)\n}\n"
                     + CELLS.replace("cell normal", "cell other") + NETWORK)
    assert [(where(e), e.message) for e in errs] == [((4, 10), "`return relu(...)`: a cell returns states")]


def test_binary_and_undecodable_files(tmp_path):
    p = tmp_path / "bin.nas"
    p.write_bytes(b"import std\n\x00\x01\x02")
    with pytest.raises(ParseError) as ei:
        load_model(p)
    assert "binary file" in ei.value.message and where(ei.value) == (2, 1)
    p.write_bytes(b"import std\nparam x = 1 # caf\xe9\n")
    with pytest.raises(ParseError) as ei:
        load_model(p)
    assert "UTF-8" in ei.value.message and where(ei.value) == (2, 18)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(NameResolutionError, match="file not found"):
        load_model(tmp_path / "nope.nas")
    p = tmp_path / "x.txt"
    p.write_text("hi")
    with pytest.raises(ParseError, match="unknown source type"):
        load_model(p)
    with pytest.raises(ParseError, match="directory"):
        load_model(tmp_path)


def test_deep_nesting_is_a_parse_error_not_a_recursion_error():
    deep = CIFAR.replace("C_out=C * 3", "C_out=" + "-" * 3000 + "C")
    e = one_error(deep)
    assert isinstance(e, ParseError) and "nested too deeply" in e.message and where(e)[0] == 28
    long_chain = CIFAR.replace("C_out=C * 3", "C_out=" + " + ".join(["C"] * 2000))
    assert "nested too deeply" in one_error(long_chain).message
    parens = CIFAR.replace("C_out=C * 3", "C_out=" + "(" * 5000 + "C" + ")" * 5000)
    assert errors_of(parens) == []  # plain grouping adds no depth


def test_deeply_nested_ifs_are_a_parse_error():
    body = "if stride == 1 { " * 500 + "relu" + " }" * 500
    e = one_error("import std\nop deep { " + body + " }\n" + CELLS + NETWORK)
    assert isinstance(e, ParseError) and "`if` statements nested too deeply" in e.message and e.span.line == 2


def test_huge_numbers():
    e = one_error(CIFAR.replace("param C = 36", "param C = " + "1" + "0" * 100))
    assert isinstance(e, ParseError) and "too large" in e.message and where(e) == (5, 11)
    e = one_error(CIFAR.replace("param C = 36", "param C = 1e999"))
    assert "out of range" in e.message


def test_yaml_bad_key_points_at_the_key(tmp_path):
    text = (EXAMPLES / "resnet20.yaml").read_text().replace("  nodes:\n", "  nodse:\n", 1)
    p = tmp_path / "r.yaml"
    p.write_text(text)
    with pytest.raises(Diagnostics) as ei:
        load_model(p)
    errs = ei.value.errors
    line = text.splitlines().index("  nodse:") + 1
    extra = [e for e in errs if "unknown key `nodse`" in e.message]
    assert len(extra) == 1 and where(extra[0]) == (line, 3) and extra[0].hint == "did you mean `nodes`?"
    assert extra[0].key == "cells[0].nodse"
    missing = [e for e in errs if "missing the key `nodes`" in e.message]
    assert len(missing) == 1 and missing[0].key == "cells[0].nodes"


def test_yaml_type_error_points_at_the_key(tmp_path):
    text = (EXAMPLES / "resnet20.yaml").read_text().replace("- name: n1\n", "- name: [n1]\n", 1)
    errs = errors_of(text, str(tmp_path / "r.yaml"))
    line = text.splitlines().index("  - name: [n1]") + 1
    assert [(where(e), e.key) for e in errs] == [((line, 5), "cells[0].nodes[1].name")]


def test_yaml_wrong_ir_version(tmp_path):
    text = (EXAMPLES / "resnet20.yaml").read_text().replace("ir_version: 1", "ir_version: 2")
    e = one_error(text, str(tmp_path / "r.yaml"))
    assert isinstance(e, ValidationError) and e.key == "ir_version"
    assert e.message == "ir_version 2 is not supported (this nasc reads ir_version 1)"
    assert where(e) == (3, 1)


def test_yaml_syntax_unsafe_tags_and_duplicates(tmp_path):
    f = str(tmp_path / "x.yaml")
    e = one_error("name: x\ncells: [\n", f)
    assert isinstance(e, ParseError) and e.message.startswith("YAML:")
    e = one_error("name: !!python/object/apply:os.system ['true']\n", f)
    assert isinstance(e, ParseError) and where(e) == (1, 7)
    e = one_error("name: x\nname: y\n", f)
    assert e.message == "duplicate key `name`" and where(e) == (2, 1)
    e = one_error("a: &a [*a]\n", f)
    assert isinstance(e, ParseError)
    e = one_error("", f)
    assert e.message == "the file is empty"
    e = one_error("- 1\n- 2\n", f)
    assert isinstance(e, ParseError) and "mapping" in e.message


def test_yaml_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    e = one_error("\n".join(lines) + "\n", str(tmp_path / "bomb.yaml"))
    assert isinstance(e, ParseError) and "expands" in e.message


def test_json_errors(tmp_path):
    e = one_error('{"name": "x",\n "cells": [}', str(tmp_path / "x.json"))
    assert isinstance(e, ParseError) and where(e) == (2, 12)


def test_unknown_set_name_and_wrong_type():
    with pytest.raises(Diagnostics) as ei:
        load_model(EXAMPLES / "darts_v2_cifar.nas", {"layerz": 8, "C": "wide", "classes": True})
    errs = ei.value.errors
    assert all(isinstance(e, ConfigError) for e in errs)
    by_key = {e.key: e for e in errs}
    assert by_key["--set layerz"].message == "unknown param `layerz`"
    assert by_key["--set layerz"].hint == "did you mean `layers`?"
    assert by_key["--set C"].message == "param `C` is an integer (default 36); got 'wide'"
    assert by_key["--set classes"].message.startswith("param `classes` is an integer")


@pytest.mark.parametrize("word", ["after", "keep", "weight"])
def test_a_reserved_word_as_a_node_name_is_named_as_such(word: str) -> None:
    # the second node: `keep` would otherwise read as the first node's `keep N`
    text = CIFAR.replace("n1 = sep_conv_3x3(s0) + sep_conv_3x3(s1)",
                         f"{word} = sep_conv_3x3(s0) + sep_conv_3x3(s1)", 1)
    e = one_error(text)
    assert isinstance(e, ParseError)
    assert e.message == f"`{word}` is a reserved word of nasc and cannot be a name"
    assert where(e) == (11, 3) and e.hint.startswith(f"rename it (for example `{word}_`)")
