"""Expressions in the IR: literals, references to parameters/context names, arithmetic, tuples.

Expressions let a source say `C * 3` or `stride=(1, stride)`; they are evaluated against an
environment (model params after overrides, plus the op context `C_in`, `C_out`, `stride`, `affine`,
`H_in`, `W_in`). In YAML/JSON an expression is written as a plain scalar: numbers and booleans as
themselves, anything else as its text (`"C * 3"`), a string literal quoted inside (`"'max'"`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from nasc.errors import NameResolutionError, ValidationError, did_you_mean
from nasc.ir.base import IRNode
from nasc.source import Span

Value = Union[int, float, bool, str, tuple["Value", ...]]

BinOpName = Literal["+", "-", "*", "/", "//", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or"]


class Lit(IRNode):
    """A literal value."""

    kind: Literal["lit"] = "lit"
    value: bool | int | float | str


class Ref(IRNode):
    """A reference to a parameter or a context name (`C`, `C_in`, `stride`, ...)."""

    kind: Literal["ref"] = "ref"
    name: str


class BinOp(IRNode):
    """A binary operation; `and`/`or` and comparisons give booleans."""

    kind: Literal["bin"] = "bin"
    op: BinOpName
    lhs: "Expr"
    rhs: "Expr"


class Neg(IRNode):
    """Unary minus or `not`."""

    kind: Literal["neg"] = "neg"
    op: Literal["-", "not"] = "-"
    operand: "Expr"


class TupleExpr(IRNode):
    """A tuple such as `(1, stride)` (kernel sizes, strides, paddings of asymmetric convs)."""

    kind: Literal["tuple"] = "tuple"
    items: tuple["Expr", ...]


ExprNode = Annotated[Union[Lit, Ref, BinOp, Neg, TupleExpr], Field(discriminator="kind")]

# ---------------------------------------------------------------------------------------------
# Text form (used by the printer, by YAML scalars, and by `--set` values). Reading text is
# `nasc.ir.expr_syntax`'s job (the grammar); writing it is `format_expr`'s.

_PREC: dict[str, int] = {"or": 1, "and": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
                         "+": 4, "-": 4, "*": 5, "/": 5, "//": 5, "%": 5}


def format_expr(e: "Expr", parent_prec: int = 0) -> str:
    """Render an expression as nasc source text (minimal parentheses)."""
    if isinstance(e, Lit):
        v = e.value
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return "'" + v + "'"
        return repr(v)
    if isinstance(e, Ref):
        return e.name
    if isinstance(e, Neg):
        inner = format_expr(e.operand, 6)
        return f"-{inner}" if e.op == "-" else f"not {inner}"
    if isinstance(e, TupleExpr):
        items = ", ".join(format_expr(i) for i in e.items)
        return f"({items},)" if len(e.items) == 1 else f"({items})"
    assert isinstance(e, BinOp)
    p = _PREC[e.op]
    s = f"{format_expr(e.lhs, p)} {e.op} {format_expr(e.rhs, p + 1)}"
    return f"({s})" if p < parent_prec else s


def parse_expr(text: str, span: Span | None = None) -> "Expr":
    """Read expression text with the grammar (`nasc.ir.expr_syntax.parse_expr`, the one expression
    reader); errors raise `ExprSyntaxError` naming the column inside `text`."""
    from nasc.ir.expr_syntax import parse_expr as read

    return read(text, span)


def _coerce(v: Any) -> Any:
    """Accept the scalar YAML/JSON form (and Python values) where an expression is expected."""
    if isinstance(v, (Lit, Ref, BinOp, Neg, TupleExpr)):
        return v
    if isinstance(v, bool) or isinstance(v, (int, float)):
        return Lit(value=v)
    if isinstance(v, str):
        return parse_expr(v)
    if isinstance(v, (list, tuple)):
        return TupleExpr(items=tuple(_coerce(x) for x in v))
    return v


def _to_scalar(e: Any) -> Any:
    if not isinstance(e, (Lit, Ref, BinOp, Neg, TupleExpr)):
        return e  # a raw default (schema generation)
    if isinstance(e, Lit):
        return e.value if not isinstance(e.value, str) else "'" + e.value + "'"
    if isinstance(e, TupleExpr) and all(isinstance(x, Lit) and not isinstance(x.value, str) for x in e.items):
        return [x.value for x in e.items]  # type: ignore[union-attr]
    return format_expr(e)


Expr = Annotated[
    ExprNode,
    BeforeValidator(_coerce),
    PlainSerializer(_to_scalar),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"},
                              {"type": "array", "items": {"type": ["number", "string"]}}],
                    "description": "a number, a boolean, or an expression such as 'C * 3'"}),
]

for _m in (BinOp, Neg, TupleExpr):
    _m.model_rebuild()


def lit(v: Any) -> Expr:
    """Make an expression from a Python value (int, float, bool, str, tuple)."""
    return _coerce(v) if not isinstance(v, str) else Lit(value=v)


def evaluate(e: Expr, env: Mapping[str, Value]) -> Value:
    """Evaluate `e` in `env`. Unknown names raise `NameResolutionError` with a did-you-mean hint."""
    if isinstance(e, Lit):
        return e.value
    if isinstance(e, Ref):
        if e.name not in env:
            raise NameResolutionError(f"unknown name `{e.name}`", e.span, did_you_mean(e.name, env))
        return env[e.name]
    if isinstance(e, TupleExpr):
        return tuple(evaluate(x, env) for x in e.items)
    if isinstance(e, Neg):
        v = evaluate(e.operand, env)
        if e.op == "not":
            return not v
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ValidationError(f"cannot negate {v!r}", e.span)
        return -v
    a, b = evaluate(e.lhs, env), evaluate(e.rhs, env)
    op = e.op
    try:
        if op == "and":
            return bool(a) and bool(b)
        if op == "or":
            return bool(a) or bool(b)
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if isinstance(a, (tuple, str)) or isinstance(b, (tuple, str)):
            raise TypeError
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        if op == ">=":
            return a >= b
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            r = a * b
            if isinstance(r, int) and abs(r) > 10**15:
                raise OverflowError
            return r
        if op == "/":
            return a / b
        if op == "//":
            return a // b
        if op == "%":
            return a % b
    except ZeroDivisionError:
        raise ValidationError(f"division by zero in `{format_expr(e)}`", e.span) from None
    except OverflowError:
        raise ValidationError(f"number too large in `{format_expr(e)}`", e.span) from None
    except TypeError:
        raise ValidationError(f"cannot apply `{op}` to {a!r} and {b!r}", e.span) from None
    raise AssertionError(op)
