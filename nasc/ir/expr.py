"""Expressions in the IR: literals, references to parameters/context names, arithmetic, tuples.

Expressions let a source say `C * 3` or `stride=(1, stride)`; they are evaluated against an
environment (model params after overrides, plus the op context `C_in`, `C_out`, `stride`, `affine`,
`H_in`, `W_in`). In YAML/JSON an expression is written as a plain scalar: numbers and booleans as
themselves, anything else as its text (`"C * 3"`), a string literal quoted inside (`"'max'"`).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from nasc.errors import NameResolutionError, ParseError, ValidationError, did_you_mean
from nasc.ir.base import IRNode

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
# Text form (used by the printer, by YAML scalars, and by `--set` values).

_PREC: dict[str, int] = {"or": 1, "and": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
                         "+": 4, "-": 4, "*": 5, "/": 5, "//": 5, "%": 5}
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+\.\d*(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?|\.\d+)|"
                    r"(?P<str>'[^']*'|\"[^\"]*\")|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|"
                    r"(?P<op>//|==|!=|<=|>=|[-+*/%<>(),]))")


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


def parse_expr(text: str) -> "Expr":
    """Parse the text form of an expression (the grammar of `expr` in the .nas language)."""
    toks: list[tuple[str, str, int]] = []
    pos = 0
    text_s = text.rstrip()
    while pos < len(text_s):
        m = _TOKEN.match(text_s, pos)
        if not m or m.end() == pos:
            raise ParseError(f"cannot read expression {text!r} at column {pos + 1}")
        kind = m.lastgroup or "op"
        toks.append((kind, m.group(kind), pos))
        pos = m.end()
    i = 0

    def peek() -> tuple[str, str, int] | None:
        return toks[i] if i < len(toks) else None

    def take() -> tuple[str, str, int]:
        nonlocal i
        if i >= len(toks):
            raise ParseError(f"expression {text!r} ends too early")
        i += 1
        return toks[i - 1]

    def atom() -> Expr:
        kind, val, at = take()
        if kind == "num":
            return Lit(value=float(val) if any(c in val for c in ".eE") else int(val))
        if kind == "str":
            return Lit(value=val[1:-1])
        if kind == "name":
            if val in ("true", "false"):
                return Lit(value=val == "true")
            if val == "not":
                return Neg(op="not", operand=binary(6))
            return Ref(name=val)
        if val == "-":
            return Neg(op="-", operand=binary(6))
        if val == "(":
            items = [binary(0)]
            trailing = False
            while peek() and peek()[1] == ",":  # type: ignore[index]
                take()
                trailing = True
                if peek() and peek()[1] == ")":  # type: ignore[index]
                    break
                items.append(binary(0))
                trailing = False
            if take()[1] != ")":
                raise ParseError(f"expected ')' in expression {text!r}")
            if len(items) == 1 and not trailing and not (len(toks) and False):
                return items[0]
            return TupleExpr(items=tuple(items))
        raise ParseError(f"unexpected {val!r} at column {at + 1} of expression {text!r}")

    def binary(min_prec: int) -> Expr:
        lhs = atom()
        while True:
            t = peek()
            if not t or t[1] not in _PREC or _PREC[t[1]] < min_prec or t[0] == "str":
                return lhs
            op = take()[1]
            rhs = binary(_PREC[op] + 1)
            lhs = BinOp(op=op, lhs=lhs, rhs=rhs)  # type: ignore[arg-type]

    result = binary(0)
    if i != len(toks):
        raise ParseError(f"unexpected {toks[i][1]!r} at column {toks[i][2] + 1} of expression {text!r}")
    return result


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
