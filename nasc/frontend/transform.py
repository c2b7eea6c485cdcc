"""The .nas transformer: lark tree -> raw items and IR, one method per grammar rule.

`ToSource` extends the expression builder of the IR (`nasc.ir.expr_syntax.ExprBuilder`), so
expressions in a .nas file become the same IR as YAML scalars and `--set` values. Problems that do
not stop the parse are collected into `errors`; fatal ones (nesting too deep) are raised. One
instance transforms one file: the errors and the nesting depths are per-instance state.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lark import v_args

from nasc.errors import NameResolutionError, NascError, ParseError, ValidationError
from nasc.frontend.raw import (
    Alias, Arg, Call, CellDef, ChoiceDef, EmptyTuple, Entry, ImportItem, InlineChoice, Kwarg, NetworkDef,
    NodeStmt, RawInput, ReturnStmt,
)
from nasc.ir.expr import Expr, Lit, Neg
from nasc.ir.expr_syntax import ExprBuilder
from nasc.ir.model import IfStmt, OpCall, OpDef, OpParam, Param, Stmt
from nasc.source import Span

if TYPE_CHECKING:
    from lark import Token


@v_args(meta=True)
class ToSource(ExprBuilder):
    """Builds the top-level items of a .nas file (`read_source` files them into a `SourceFile`)."""

    def __init__(self, file: str | None, errors: list[NascError]) -> None:
        super().__init__(file)
        self.errors = errors

    def _tok(self, t: Token) -> Span:
        return Span(file=self.file, line=t.line, col=t.column, end_line=t.end_line, end_col=t.end_column)

    def _sp(self, meta: Any) -> Span:
        return self._error_span(meta)

    # -- calls --
    def kwarg(self, meta: Any, ch: list[Any]) -> Kwarg:
        return Kwarg(str(ch[0]), ch[1], self._sp(meta))

    def args(self, meta: Any, ch: list[Any]) -> list[Arg]:
        return [c for c in ch if c is not None]

    def call(self, meta: Any, ch: list[Any]) -> Call:
        return Call(str(ch[0]), ch[1], self._sp(meta), self._tok(ch[0]))

    def inline_choice(self, meta: Any, ch: list[Any]) -> InlineChoice:
        return InlineChoice(ch[0], ch[1], self._sp(meta))

    def candidates(self, meta: Any, ch: list[Any]) -> list[Call]:
        return [c for c in ch if c is not None]

    def empty_tuple(self, meta: Any, ch: list[Any]) -> EmptyTuple:
        return EmptyTuple()

    # -- top-level items --
    def import_stmt(self, meta: Any, ch: list[Any]) -> ImportItem:
        t = ch[0]
        name = str(t)[1:-1] if t.type == "STRING" else str(t)
        return ImportItem(name, self._sp(meta))

    def param_def(self, meta: Any, ch: list[Any]) -> Param:
        name, value = ch
        default = literal_value(value)
        if default is None:
            self.errors.append(ValidationError(
                f"the default of param `{name}` must be a literal (a number, true/false or a string)",
                value.span, "compute derived values where they are used, e.g. `C_out=C * 3`"))
            default = 0
        return Param(name=str(name), default=default, span=self._tok(name))

    def op_param(self, meta: Any, ch: list[Any]) -> OpParam:
        return OpParam(name=str(ch[0]), default=ch[1], span=self._tok(ch[0]))

    def op_params(self, meta: Any, ch: list[Any]) -> list[OpParam]:
        return [c for c in ch if c is not None]

    def op_block(self, meta: Any, ch: list[Any]) -> list[Stmt]:
        return [body_stmt(c, self.errors) for c in ch]

    def op_alias(self, meta: Any, ch: list[Any]) -> Alias:
        return Alias(ch[0])

    def if_stmt(self, meta: Any, ch: list[Any]) -> IfStmt:
        cond, then = ch[0], ch[1]
        orelse = ch[2] if len(ch) > 2 and ch[2] is not None else []
        if isinstance(orelse, IfStmt):
            orelse = [orelse]
        node = IfStmt(cond=cond, then=tuple(then), orelse=tuple(orelse), span=self._sp(meta))
        nested = tuple(s for s in (*then, *orelse) if isinstance(s, IfStmt))
        hint = "split the op into several ops"
        return self._nested(meta, node, nested, "`if` statements", hint)  # type: ignore[no-any-return]

    def op_def(self, meta: Any, ch: list[Any]) -> tuple[str, Any]:
        name, params, body = ch
        if isinstance(body, Alias):  # the alias form `op x = call`
            body = [body_stmt(body.call, self.errors)]
        op = OpDef(name=str(name), params=tuple(params or ()), body=tuple(body), span=self._tok(name))
        return ("op", (op, self._sp(meta)))

    def choice_def(self, meta: Any, ch: list[Any]) -> tuple[str, Any]:
        name, cands = ch
        return ("choice", (ChoiceDef(str(name), cands, self._tok(name)), self._sp(meta)))

    def cell_input(self, meta: Any, ch: list[Any]) -> RawInput:
        return RawInput(str(ch[0]), ch[1], self._tok(ch[0]))

    def keep(self, meta: Any, ch: list[Any]) -> int:
        text = str(ch[0])
        if not text.isdigit() or len(text) > 9:
            self.errors.append(ValidationError(f"`keep {text}`: the count must be a whole number",
                                               self._sp(meta), "write e.g. `keep 2`"))
            return 1
        return int(text)

    def node(self, meta: Any, ch: list[Any]) -> NodeStmt:
        name, *terms, keep = ch
        return NodeStmt(str(name), [t for t in terms if t is not None], keep, self._sp(meta))

    def return_stmt(self, meta: Any, ch: list[Any]) -> ReturnStmt:
        return ReturnStmt([t for t in ch if t is not None], self._sp(meta))

    def cell_def(self, meta: Any, ch: list[Any]) -> tuple[str, Any]:
        name = ch[0]
        inputs = [c for c in ch[1:] if isinstance(c, RawInput)]
        stmts = [c for c in ch[1:] if isinstance(c, (NodeStmt, ReturnStmt))]
        return ("cell", (CellDef(str(name), self._tok(name), inputs, stmts), self._sp(meta)))

    def after(self, meta: Any, ch: list[Any]) -> Expr:
        return ch[0]  # type: ignore[no-any-return]

    def weight(self, meta: Any, ch: list[Any]) -> Expr:
        return ch[0]  # type: ignore[no-any-return]

    def net_entry(self, meta: Any, ch: list[Any]) -> Entry:
        key, value, after, weight = ch
        vspan = getattr(value, "span", None) or self._sp(meta)  # `()` has no span of its own
        return Entry(str(key), self._tok(key), value, vspan, after, weight, self._sp(meta))

    def network_def(self, meta: Any, ch: list[Any]) -> tuple[str, Any]:
        name, *entries = ch
        net = NetworkDef(str(name), self._tok(name), [e for e in entries if e is not None])
        return ("network", (net, self._sp(meta)))

    def start(self, meta: Any, ch: list[Any]) -> list[Any]:
        return [c for c in ch if c is not None]


# ---- raw calls -> IR (shared with the model builder) -------------------------------------------

def literal_value(e: Expr) -> bool | int | float | str | None:
    """The value of a literal (or a negated number), else None."""
    if isinstance(e, Lit):
        return e.value
    if isinstance(e, Neg) and e.op == "-" and isinstance(e.operand, Lit) \
            and isinstance(e.operand.value, (int, float)) and not isinstance(e.operand.value, bool):
        return -e.operand.value
    return None


def call_kwargs(call: Call, errors: list[NascError], what: str) -> dict[str, Expr]:
    """The keyword arguments of `call`; positional ones are errors (`what` says where we are)."""
    out: dict[str, Expr] = {}
    for a in call.args or ():
        if isinstance(a, Kwarg):
            if a.name in out:
                errors.append(NameResolutionError(f"argument `{a.name}` given twice", a.span))
            out[a.name] = a.value
        else:
            errors.append(ParseError(f"{what} take keyword arguments only, e.g. `{call.name}(k=3)`",
                                     a.span, "only cell edges read a state: `op(state, k=3)`"))
    return out


def body_stmt(item: Any, errors: list[NascError]) -> Stmt:
    """An op-body statement: an `IfStmt` as is, a raw call as an `OpCall`."""
    if isinstance(item, IfStmt):
        return item
    if isinstance(item, InlineChoice):  # cannot happen through the grammar; kept for safety
        errors.append(ParseError("an op body cannot contain a choice", item.span))
        return OpCall(op="identity", span=item.span)
    return op_call(item, errors, "calls in an op body")


def op_call(call: Call, errors: list[NascError], what: str) -> OpCall:
    """The `OpCall` of a raw call with keyword arguments only."""
    return OpCall(op=call.name, args=call_kwargs(call, errors, what), span=call.span)

