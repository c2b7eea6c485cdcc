"""The one expression reader (the grammar's `expr` rule): results, located errors with hints,
the same IR as in .nas files, and YAML scalars whose errors point at their key."""
from __future__ import annotations

from pathlib import Path

import pytest

from nasc.errors import Diagnostics, ParseError
from nasc.frontend import load_model
from nasc.frontend.transform import ToSource
from nasc.ir import expr as expr_module
from nasc.ir.expr import BinOp, Lit, Neg, Ref, TupleExpr, format_expr, parse_expr
from nasc.ir.expr_syntax import MAX_DEPTH, ExprBuilder, ExprSyntaxError
from nasc.ir.grammar import collecting_comments, grammar_parser
from nasc.source import Span

ROOT = Path(__file__).resolve().parents[2]


def test_expressions_read_into_the_ir():
    assert parse_expr("C * 3") == BinOp(op="*", lhs=Ref(name="C"), rhs=Lit(value=3))
    assert parse_expr("(1, stride)") == TupleExpr(items=(Lit(value=1), Ref(name="stride")))
    assert parse_expr("(1,)") == TupleExpr(items=(Lit(value=1),))
    assert parse_expr("(C)") == Ref(name="C")
    assert parse_expr("'max'") == Lit(value="max") and parse_expr('"avg"') == Lit(value="avg")
    assert parse_expr("-a * b") == BinOp(op="*", lhs=Neg(operand=Ref(name="a")), rhs=Ref(name="b"))
    assert parse_expr("not a and b") == BinOp(op="and", lhs=Neg(op="not", operand=Ref(name="a")), rhs=Ref(name="b"))
    assert parse_expr("a - b - c") == parse_expr("(a - b) - c") != parse_expr("a - (b - c)")
    assert parse_expr("  2 * layers // 3  ") == parse_expr("2*layers//3")
    assert parse_expr("1.5") == Lit(value=1.5) and parse_expr("true") == Lit(value=True)


def test_scalar_expressions_carry_no_file_positions():
    e = parse_expr("C * 3")
    assert e.span is None and e.lhs.span is None  # type: ignore[union-attr]


def test_there_is_one_parser_and_one_transformer():
    assert not hasattr(expr_module, "_TOKEN")  # the hand-written tokenizer is gone
    assert issubclass(ToSource, ExprBuilder)
    for rule in ("number", "string", "true", "false", "ref", "binop", "neg", "tuple"):
        assert rule not in ToSource.__dict__, f"the .nas transformer redefines `{rule}`"
    assert "expr" in grammar_parser().options.start


@pytest.mark.parametrize("text, message, col", [
    ("C * )", "unexpected ')' at column 5 of expression 'C * )'", 5),
    ("C $ 3", "unexpected character '$' at column 3", 3),
    ("C *", "expression 'C *' ends too early", None),
    ("(1, 2", "expression '(1, 2' ends too early", None),
    ("", "empty expression", None),
])
def test_syntax_errors_name_the_column_and_give_a_hint(text, message, col):
    where = Span(file="m.yaml", line=7, col=3)
    with pytest.raises(ExprSyntaxError) as ei:
        parse_expr(text, where)
    e = ei.value
    assert message in e.message and e.hint and e.span == where
    assert isinstance(e, ParseError) and isinstance(e, ValueError)


def test_errors_in_multi_line_scalars_name_the_line():
    with pytest.raises(ExprSyntaxError, match=r"at line 2, column 3 of expression"):
        parse_expr("a\n+ )")


def test_limits_hold_for_scalars_too():
    with pytest.raises(ExprSyntaxError, match="nested too deeply"):
        parse_expr("-" * (MAX_DEPTH + 5) + "x")
    with pytest.raises(ExprSyntaxError, match="is too large"):
        parse_expr("9" * 30)
    with pytest.raises(ExprSyntaxError, match="out of range"):
        parse_expr("1e400")


def test_printed_expressions_read_back():
    for text in ("2 * layers // 3", "(1, (2, -k))", "not (a or b) and c", "x % 2 == 0", "- - a"):
        e = parse_expr(text)
        assert parse_expr(format_expr(e)) == e


def test_bad_yaml_scalars_are_located_at_their_key(tmp_path):
    src = (ROOT / "examples" / "resnet20.yaml").read_text()
    lines = src.splitlines()
    line = next(i for i, t in enumerate(lines, 1) if t.strip() == "channels: C")
    bad = tmp_path / "bad.yaml"
    bad.write_text(src.replace("channels: C", "channels: C * )", 1))
    with pytest.raises(Diagnostics) as ei:
        load_model(bad)
    (e,) = ei.value.errors
    assert isinstance(e, ParseError) and e.key == "layout.channels"
    assert e.span is not None and (e.span.file, e.span.line) == (str(bad), line)
    assert "unexpected ')' at column 5 of expression 'C * )'" in e.message and e.hint


def test_comments_are_collected_per_parse():
    with collecting_comments() as outer:
        grammar_parser().parse("param a = 1  # one\n", start="start")
        with collecting_comments() as inner:
            grammar_parser().parse("param b = 2  # two\n", start="start")
        grammar_parser().parse("param c = 3  # three\n", start="start")
    assert [str(t) for t in outer] == ["# one", "# three"] and [str(t) for t in inner] == ["# two"]
    grammar_parser().parse("param d = 4  # nobody listens\n", start="start")  # no sink: dropped
