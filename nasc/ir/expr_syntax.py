"""Expression text -> IR: the one expression reader of nasc.

Expressions are read by the lark grammar (`grammar/nasc.lark`, rule `expr`) and built by
`ExprBuilder`, a lark transformer with one method per expression rule. The `.nas` front end's
transformer derives from `ExprBuilder`, so an expression in a `.nas` file, a YAML scalar
(`"C * 3"`) and a `--set` value are read by the same rules into the same IR.

`parse_expr(text)` reads one expression. Its errors are `ExprSyntaxError`s saying where in the
text the problem is (line and column inside the scalar) with a hint; they are also `ValueError`s,
so pydantic reports them as validation errors of the field being read, and the YAML front end
points them at the offending key.

The transformer is lark's non-recursive one and expressions deeper than `MAX_DEPTH` are refused,
so no input can make a reader hit Python's recursion limit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lark import Transformer_NonRecursive, v_args

from nasc.errors import NascError, ParseError
from nasc.ir.expr import BinOp, Expr, Lit, Neg, Ref, TupleExpr
from nasc.ir.grammar import grammar_parser
from nasc.source import Span

if TYPE_CHECKING:
    from lark.exceptions import UnexpectedInput

MAX_DEPTH = 64  # deepest expression (tuples, operators, signs) accepted
MAX_INT = 2**63  # larger integer literals are refused (they cannot be sizes or counts)
_EXPR_HINT = ("an expression is a number, true/false, a quoted string, a name, a tuple `(a, b)`, "
              "combined with + - * / // % == != < <= > >= and or not, e.g. `C * 3`")


class ExprSyntaxError(ParseError, ValueError):
    """Expression text that the grammar cannot read (also a `ValueError`, for pydantic)."""


@v_args(meta=True)
class ExprBuilder(Transformer_NonRecursive):
    """Builds expression IR from the grammar's expression rules, with a span on every node.

    `file` names the source for spans; `located=False` builds nodes without spans (text whose
    positions are not positions in a file, such as a YAML scalar). Per-parse state (the nesting
    depth of every node built) lives on the instance: use one instance per parse.
    """

    def __init__(self, file: str | None = None, *, located: bool = True) -> None:
        super().__init__()
        self.file = file
        self.located = located
        self._depth: dict[int, int] = {}

    # -- helpers (underscored: lark treats public methods as rule callbacks) --
    def _span(self, meta: Any) -> Span | None:
        if not self.located or meta.empty:
            return None
        return Span(file=self.file, line=meta.line, col=meta.column, end_line=meta.end_line,
                    end_col=meta.end_column)

    def _error_span(self, meta: Any) -> Span:
        return Span(file=self.file, line=meta.line, col=meta.column, end_line=meta.end_line,
                    end_col=meta.end_column)

    def _nested(self, meta: Any, node: Any, children: tuple[Any, ...], what: str, hint: str) -> Any:
        """Record the depth of `node` (one more than its deepest child); refuse it past MAX_DEPTH."""
        d = 1 + max((self._depth.get(id(c), 1) for c in children), default=0)
        if d > MAX_DEPTH:
            raise ParseError(f"{what} nested too deeply (more than {MAX_DEPTH} levels)",
                             self._error_span(meta), hint)
        self._depth[id(node)] = d
        return node

    def _mk(self, meta: Any, node: Expr, *children: Any) -> Expr:
        hint = "split it with a param or simplify it"
        return self._nested(meta, node, children, "expression", hint)  # type: ignore[no-any-return]

    # -- one method per expression rule --
    def number(self, meta: Any, ch: list[Any]) -> Expr:
        text = str(ch[0])
        if any(c in text for c in ".eE"):
            v: int | float = float(text)
            if v in (float("inf"), float("-inf")):
                raise ParseError(f"number `{text[:20]}` is out of range", self._error_span(meta))
        else:
            if len(text) > 19 or int(text) > MAX_INT:
                raise ParseError(f"integer `{text[:20]}{'...' if len(text) > 20 else ''}` is too large",
                                 self._error_span(meta), f"integers are limited to {MAX_INT}")
            v = int(text)
        return self._mk(meta, Lit(value=v, span=self._span(meta)))

    def string(self, meta: Any, ch: list[Any]) -> Expr:
        return self._mk(meta, Lit(value=str(ch[0])[1:-1], span=self._span(meta)))

    def true(self, meta: Any, ch: list[Any]) -> Expr:
        return self._mk(meta, Lit(value=True, span=self._span(meta)))

    def false(self, meta: Any, ch: list[Any]) -> Expr:
        return self._mk(meta, Lit(value=False, span=self._span(meta)))

    def ref(self, meta: Any, ch: list[Any]) -> Expr:
        return self._mk(meta, Ref(name=str(ch[0]), span=self._span(meta)))

    def binop(self, meta: Any, ch: list[Any]) -> Expr:
        lhs, op, rhs = ch
        node = BinOp(op=str(op), lhs=lhs, rhs=rhs, span=self._span(meta))  # type: ignore[arg-type]
        return self._mk(meta, node, lhs, rhs)

    def neg(self, meta: Any, ch: list[Any]) -> Expr:
        op, operand = ch
        return self._mk(meta, Neg(op="not" if str(op) == "not" else "-", operand=operand, span=self._span(meta)),
                        operand)

    def tuple(self, meta: Any, ch: list[Any]) -> Expr:
        items = [c for c in ch if c is not None]
        return self._mk(meta, TupleExpr(items=tuple(items), span=self._span(meta)), *items)


def parse_expr(text: str, span: Span | None = None) -> Expr:
    """Read one expression (`"C * 3"`, `"(1, stride)"`, `"'max'"`) with the grammar's `expr` rule.

    `span`, when given, is where the text came from (a YAML key, a command-line option); errors
    carry it and name the line and column inside `text`. Errors raise `ExprSyntaxError`.
    """
    from lark.exceptions import UnexpectedInput, VisitError

    try:
        tree = grammar_parser().parse(text, start="expr")
    except UnexpectedInput as e:
        raise _syntax_error(e, text, span) from None
    try:
        return ExprBuilder(None, located=False).transform(tree)  # type: ignore[no-any-return]
    except VisitError as e:
        err = e.orig_exc
        if isinstance(err, NascError):
            where = err.span
            at = _at(text, where.line, where.col) if where is not None else ""
            raise ExprSyntaxError(f"{err.message}{at} of expression {_quote(text)}", span, err.hint) from None
        raise


def _quote(text: str) -> str:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return repr(shown)


def _at(text: str, line: int, col: int) -> str:
    """` at column C` (or ` at line L, column C` in multi-line text)."""
    return f" at line {line}, column {col}" if "\n" in text.rstrip("\n") else f" at column {col}"


def _syntax_error(e: UnexpectedInput, text: str, span: Span | None) -> ExprSyntaxError:
    """A lark error on expression text -> an `ExprSyntaxError` naming the place inside the text."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    quoted = _quote(text)
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if 0 <= e.pos_in_stream < len(text) else ""
        shown = repr(ch)
        hint = "strings end on the line they start on" if ch in "'\"" else _EXPR_HINT
        return ExprSyntaxError(f"cannot read expression {quoted}: unexpected character {shown}"
                               f"{_at(text, e.line, e.column)}", span, hint)
    if isinstance(e, UnexpectedToken) and e.token.type != "$END":
        tok = e.token
        return ExprSyntaxError(f"unexpected {str(tok)!r}{_at(text, tok.line, tok.column)} of expression {quoted}",
                               span, _EXPR_HINT)
    if not text.strip():
        return ExprSyntaxError("empty expression", span, "write a value, e.g. `3` or `C * 3`")
    return ExprSyntaxError(f"expression {quoted} ends too early", span, _EXPR_HINT)
