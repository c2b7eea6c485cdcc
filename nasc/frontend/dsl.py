"""The .nas front end: lark tree -> IR, with a `Span` on every node.

Two steps. `read_source(text, file)` parses the text and turns the tree into a `SourceFile` (one
transformer method per grammar rule; expressions, params and ops become IR right away, calls in
cells and the network stay raw because what a name means depends on the whole file: `foo(s0)` is
a `Choice` when `foo` is a named choice, else an `OpCall`). `build_model(src, imported_ops)` then
builds the `Model`, collecting every error it finds (unknown or duplicate network keys, malformed
edges, duplicate choices, ...) into one `Diagnostics`. Name resolution of ops and states is
`nasc.ir.verify`'s job, so the .nas and YAML front ends report them the same way.

The transformer is lark's non-recursive one and expressions deeper than `MAX_DEPTH` are refused,
so no input can make the front end hit Python's recursion limit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Union

from nasc.errors import Diagnostics, NascError, NameResolutionError, ParseError, ValidationError, did_you_mean
from nasc.frontend.syntax import parse_text
from nasc.ir.expr import BinOp, Expr, Lit, Neg, Ref, TupleExpr
from nasc.ir.model import (
    AuxHead, Cell, CellInput, Choice, Edge, Head, IfStmt, Layout, Model, Node, OpCall, OpDef, OpParam,
    Param, Stmt,
)
from nasc.source import Span

if TYPE_CHECKING:
    from lark import Token

MAX_DEPTH = 64  # deepest expression (tuples, operators, signs) and `if` nesting accepted
MAX_INT = 2**63  # larger integer literals are refused (they cannot be sizes or counts)
COMBINERS = ("sum", "concat", "proj")
NETWORK_KEYS = ("input", "classes", "stem", "cells", "channels", "reductions", "normal", "reduce",
                "growth", "head", "aux", "affine")
REQUIRED_KEYS = ("input", "classes", "stem", "cells", "channels", "head")
_OP_KEYS = ("stem", "head", "aux")


# ---- raw forms of what is not IR yet -----------------------------------------------------------

class Kwarg(NamedTuple):
    """`name=value` inside a call."""

    name: str
    value: Expr
    span: Span


class Call(NamedTuple):
    """`name` or `name(args)`; `args is None` when written without parentheses."""

    name: str
    args: list[Arg] | None
    span: Span
    name_span: Span


class InlineChoice(NamedTuple):
    """`[a, b(k=1)](state)`."""

    candidates: list[Call]
    args: list[Arg]
    span: Span


Arg = Union[Kwarg, Call, InlineChoice]
Term = Union[Call, InlineChoice]


class ImportItem(NamedTuple):
    """`import std` or `import "path.nas"`."""

    name: str
    span: Span


class ChoiceDef(NamedTuple):
    """`choice name = [candidates]`."""

    name: str
    candidates: list[Call]
    span: Span


class NodeStmt(NamedTuple):
    """`name = terms [keep N]` inside a cell."""

    name: str
    terms: list[Term]
    keep: int | None
    span: Span


class ReturnStmt(NamedTuple):
    """`return terms` inside a cell."""

    terms: list[Term]
    span: Span


class RawInput(NamedTuple):
    """`name` or `name: preprocess_op` in a cell header."""

    name: str
    op: Call | None
    span: Span


class CellDef(NamedTuple):
    """A cell before choice names are resolved."""

    name: str
    span: Span
    inputs: list[RawInput]
    stmts: list[NodeStmt | ReturnStmt]


class _Alias(NamedTuple):
    """The body of `op x = call`."""

    call: Call


class EmptyTuple:
    """The value `()` (only meaningful for `reductions`)."""


class Entry(NamedTuple):
    """`key = value [after EXPR] [weight EXPR]` inside a network block."""

    key: str
    key_span: Span
    value: Expr | Call | EmptyTuple
    value_span: Span
    after: Expr | None
    weight: Expr | None
    span: Span


class NetworkDef(NamedTuple):
    """A network block before its entries are checked."""

    name: str
    span: Span
    entries: list[Entry]


class Comment(NamedTuple):
    """A `#` comment of the source: 1-based line and column and its text (with the `#`)."""

    line: int
    col: int
    text: str
    own_line: bool  # nothing but whitespace before it on its line


class SourceFile:
    """Everything read from one .nas file, in source order, plus what the formatter needs."""

    def __init__(self, file: str | None) -> None:
        self.file = file
        self.imports: list[ImportItem] = []
        self.params: list[Param] = []
        self.ops: list[OpDef] = []
        self.choices: list[ChoiceDef] = []
        self.cells: list[CellDef] = []
        self.networks: list[NetworkDef] = []
        self.comments: list[Comment] = []  # not counting op doc comments
        # (kind, name, first line, last line) of every top-level item, in source order
        self.items: list[tuple[str, str, int, int]] = []
        # first line of every network entry: key -> lines (stem may repeat)
        self.entry_lines: dict[str, list[int]] = {}
        self.errors: list[NascError] = []


# ---- tree -> SourceFile ------------------------------------------------------------------------

def _tok_span(file: str | None, tok: Token) -> Span:
    return Span(file=file, line=tok.line, col=tok.column, end_line=tok.end_line, end_col=tok.end_column)


def _meta_span(file: str | None, meta: Any) -> Span:
    return Span(file=file, line=meta.line, col=meta.column, end_line=meta.end_line, end_col=meta.end_column)


def _make_transformer(file: str | None, errors: list[NascError]) -> Any:
    """A lark `Transformer_NonRecursive` building raw items and IR (one method per rule)."""
    from lark import Token
    from lark.visitors import Transformer_NonRecursive, v_args

    depth: dict[int, int] = {}

    def mk(meta: Any, node: Expr, *children: Any) -> Expr:
        d = 1 + max((depth.get(id(c), 1) for c in children), default=0)
        if d > MAX_DEPTH:
            raise ParseError(f"expression nested too deeply (more than {MAX_DEPTH} levels)",
                             _meta_span(file, meta), "split it with a param or simplify it")
        depth[id(node)] = d
        return node

    def tok(t: Token) -> Span:
        return _tok_span(file, t)

    def sp(meta: Any) -> Span:
        return _meta_span(file, meta)

    @v_args(meta=True)
    class ToSource(Transformer_NonRecursive):
        # -- expressions (same IR as nasc.ir.expr.parse_expr) --
        def number(self, meta: Any, ch: list[Any]) -> Expr:
            text = str(ch[0])
            s = sp(meta)
            if any(c in text for c in ".eE"):
                v: int | float = float(text)
                if v in (float("inf"), float("-inf")):
                    raise ParseError(f"number `{text[:20]}` is out of range", s)
            else:
                if len(text) > 19 or int(text) > MAX_INT:
                    raise ParseError(f"integer `{text[:20]}{'...' if len(text) > 20 else ''}` is too large",
                                     s, f"integers are limited to {MAX_INT}")
                v = int(text)
            return mk(meta, Lit(value=v, span=s))

        def string(self, meta: Any, ch: list[Any]) -> Expr:
            return mk(meta, Lit(value=str(ch[0])[1:-1], span=sp(meta)))

        def true(self, meta: Any, ch: list[Any]) -> Expr:
            return mk(meta, Lit(value=True, span=sp(meta)))

        def false(self, meta: Any, ch: list[Any]) -> Expr:
            return mk(meta, Lit(value=False, span=sp(meta)))

        def ref(self, meta: Any, ch: list[Any]) -> Expr:
            return mk(meta, Ref(name=str(ch[0]), span=sp(meta)))

        def binop(self, meta: Any, ch: list[Any]) -> Expr:
            lhs, op, rhs = ch
            return mk(meta, BinOp(op=str(op), lhs=lhs, rhs=rhs, span=sp(meta)), lhs, rhs)  # type: ignore[arg-type]

        def neg(self, meta: Any, ch: list[Any]) -> Expr:
            op, operand = ch
            return mk(meta, Neg(op="not" if str(op) == "not" else "-", operand=operand, span=sp(meta)), operand)

        def tuple(self, meta: Any, ch: list[Any]) -> Expr:
            items = [c for c in ch if c is not None]
            return mk(meta, TupleExpr(items=tuple(items), span=sp(meta)), *items)

        # -- calls --
        def kwarg(self, meta: Any, ch: list[Any]) -> Kwarg:
            return Kwarg(str(ch[0]), ch[1], sp(meta))

        def args(self, meta: Any, ch: list[Any]) -> list[Arg]:
            return [c for c in ch if c is not None]

        def call(self, meta: Any, ch: list[Any]) -> Call:
            return Call(str(ch[0]), ch[1], sp(meta), tok(ch[0]))

        def inline_choice(self, meta: Any, ch: list[Any]) -> InlineChoice:
            return InlineChoice(ch[0], ch[1], sp(meta))

        def candidates(self, meta: Any, ch: list[Any]) -> list[Call]:
            return [c for c in ch if c is not None]

        def empty_tuple(self, meta: Any, ch: list[Any]) -> EmptyTuple:
            return EmptyTuple()

        # -- top-level items --
        def import_stmt(self, meta: Any, ch: list[Any]) -> ImportItem:
            t = ch[0]
            name = str(t)[1:-1] if t.type == "STRING" else str(t)
            return ImportItem(name, sp(meta))

        def param_def(self, meta: Any, ch: list[Any]) -> Param:
            name, value = ch
            default = _literal_value(value)
            if default is None:
                errors.append(ValidationError(
                    f"the default of param `{name}` must be a literal (a number, true/false or a string)",
                    value.span, "compute derived values where they are used, e.g. `C_out=C * 3`"))
                default = 0
            return Param(name=str(name), default=default, span=tok(name))

        def op_param(self, meta: Any, ch: list[Any]) -> OpParam:
            return OpParam(name=str(ch[0]), default=ch[1], span=tok(ch[0]))

        def op_params(self, meta: Any, ch: list[Any]) -> list[OpParam]:
            return [c for c in ch if c is not None]

        def op_block(self, meta: Any, ch: list[Any]) -> list[Stmt]:
            return [_stmt(c, errors) for c in ch]

        def op_alias(self, meta: Any, ch: list[Any]) -> _Alias:
            return _Alias(ch[0])

        def if_stmt(self, meta: Any, ch: list[Any]) -> IfStmt:
            cond, then = ch[0], ch[1]
            orelse = ch[2] if len(ch) > 2 and ch[2] is not None else []
            if isinstance(orelse, IfStmt):
                orelse = [orelse]
            node = IfStmt(cond=cond, then=tuple(then), orelse=tuple(orelse), span=sp(meta))
            nested = [s for s in (*then, *orelse) if isinstance(s, IfStmt)]
            d = 1 + max((depth.get(id(s), 1) for s in nested), default=0)
            if d > MAX_DEPTH:
                raise ParseError(f"`if` statements nested too deeply (more than {MAX_DEPTH} levels)", sp(meta),
                                 "split the op into several ops")
            depth[id(node)] = d
            return node

        def op_def(self, meta: Any, ch: list[Any]) -> tuple[str, Any]:
            name, params, body = ch
            if isinstance(body, _Alias):  # the alias form `op x = call`
                body = [_stmt(body.call, errors)]
            op = OpDef(name=str(name), params=tuple(params or ()), body=tuple(body), span=tok(name))
            return ("op", (op, sp(meta)))

        def choice_def(self, meta: Any, ch: list[Any]) -> tuple[str, Any]:
            name, cands = ch
            return ("choice", (ChoiceDef(str(name), cands, tok(name)), sp(meta)))

        def cell_input(self, meta: Any, ch: list[Any]) -> RawInput:
            return RawInput(str(ch[0]), ch[1], tok(ch[0]))

        def keep(self, meta: Any, ch: list[Any]) -> int:
            text = str(ch[0])
            if not text.isdigit() or len(text) > 9:
                errors.append(ValidationError(f"`keep {text}`: the count must be a whole number",
                                              sp(meta), "write e.g. `keep 2`"))
                return 1
            return int(text)

        def node(self, meta: Any, ch: list[Any]) -> NodeStmt:
            name, *terms, keep = ch
            return NodeStmt(str(name), [t for t in terms if t is not None], keep, sp(meta))

        def return_stmt(self, meta: Any, ch: list[Any]) -> ReturnStmt:
            return ReturnStmt([t for t in ch if t is not None], sp(meta))

        def cell_def(self, meta: Any, ch: list[Any]) -> tuple[str, Any]:
            name = ch[0]
            inputs = [c for c in ch[1:] if isinstance(c, RawInput)]
            stmts = [c for c in ch[1:] if isinstance(c, (NodeStmt, ReturnStmt))]
            return ("cell", (CellDef(str(name), tok(name), inputs, stmts), sp(meta)))

        def after(self, meta: Any, ch: list[Any]) -> Expr:
            return ch[0]

        def weight(self, meta: Any, ch: list[Any]) -> Expr:
            return ch[0]

        def net_entry(self, meta: Any, ch: list[Any]) -> Entry:
            key, value, after, weight = ch
            vspan = getattr(value, "span", None) or sp(meta)  # `()` has no span of its own
            return Entry(str(key), tok(key), value, vspan, after, weight, sp(meta))

        def network_def(self, meta: Any, ch: list[Any]) -> tuple[str, Any]:
            name, *entries = ch
            return ("network", (NetworkDef(str(name), tok(name), [e for e in entries if e is not None]),
                                sp(meta)))

        def start(self, meta: Any, ch: list[Any]) -> list[Any]:
            return [c for c in ch if c is not None]

    return ToSource()


def _literal_value(e: Expr) -> bool | int | float | str | None:
    """The value of a literal (or a negated number), else None."""
    if isinstance(e, Lit):
        return e.value
    if isinstance(e, Neg) and e.op == "-" and isinstance(e.operand, Lit) \
            and isinstance(e.operand.value, (int, float)) and not isinstance(e.operand.value, bool):
        return -e.operand.value
    return None


def _kwargs(call: Call, errors: list[NascError], what: str) -> dict[str, Expr]:
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


def _stmt(item: Any, errors: list[NascError]) -> Stmt:
    """An op-body statement: an `IfStmt` as is, a raw call as an `OpCall`."""
    if isinstance(item, IfStmt):
        return item
    if isinstance(item, InlineChoice):  # cannot happen through the grammar; kept for safety
        errors.append(ParseError("an op body cannot contain a choice", item.span))
        return OpCall(op="identity", span=item.span)
    return _op_call(item, errors, "calls in an op body")


def _op_call(call: Call, errors: list[NascError], what: str) -> OpCall:
    return OpCall(op=call.name, args=_kwargs(call, errors, what), span=call.span)


def read_source(text: str, file: str | None) -> SourceFile:
    """Parse .nas text into a `SourceFile`; syntax errors raise `ParseError`."""
    from lark.exceptions import VisitError

    tree, comment_toks = parse_text(text, file)
    src = SourceFile(file=file)
    transformer = _make_transformer(file, src.errors)
    try:
        items = transformer.transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, NascError):
            raise e.orig_exc from None
        raise
    lines = text.split("\n")  # lark counts lines by "\n" only (not "\r", "\f", ...)
    comments = [Comment(t.line, t.column, str(t).rstrip(),
                        own_line=not lines[t.line - 1][: t.column - 1].strip()) for t in comment_toks]
    doc_lines: set[int] = set()
    by_line = {c.line: c for c in comments if c.own_line}
    for item in items:
        _add_item(src, item, by_line, doc_lines)
    src.comments = [c for c in comments if c.line not in doc_lines]
    return src


def _add_item(src: SourceFile, item: Any, by_line: dict[int, Comment], doc_lines: set[int]) -> None:
    """File one transformed top-level item into `src` (ops pick up their doc comments)."""
    if isinstance(item, ImportItem):
        src.imports.append(item)
        src.items.append(("import", item.name, item.span.line, item.span.end_line or item.span.line))
        return
    if isinstance(item, Param):
        src.params.append(item)
        assert item.span is not None
        src.items.append(("param", item.name, item.span.line, item.span.line))
        return
    kind, (obj, full) = item
    start, end = full.line, full.end_line or full.line
    if kind == "op":
        # the comment lines right above `op` (no blank line between) are the op's doc
        doc: list[str] = []
        k = start - 1
        while k in by_line and by_line[k].col == 1:
            doc.insert(0, by_line[k].text[1:].removeprefix(" "))
            doc_lines.add(k)
            k -= 1
        if doc:
            obj = obj.model_copy(update={"doc": "\n".join(doc)})
        src.ops.append(obj)
    elif kind == "choice":
        src.choices.append(obj)
    elif kind == "cell":
        src.cells.append(obj)
    else:
        src.networks.append(obj)
        for e in obj.entries:
            src.entry_lines.setdefault(e.key, []).append(e.span.line)
    src.items.append((kind, obj.name, start, end))


# ---- SourceFile -> Model -----------------------------------------------------------------------

class _Builder:
    """Builds the `Model` of a `SourceFile`, collecting errors."""

    def __init__(self, src: SourceFile, imported_ops: tuple[OpDef, ...]) -> None:
        self.src = src
        self.imported = imported_ops
        self.errors: list[NascError] = list(src.errors)
        self.choices: dict[str, ChoiceDef] = {}

    def err(self, error: NascError) -> None:
        self.errors.append(error)

    # -- choices --
    def collect_choices(self) -> None:
        op_names = {d.name: d for d in (*self.imported, *self.src.ops)}
        for c in self.src.choices:
            if c.name in self.choices:
                first = self.choices[c.name].span
                self.err(NameResolutionError(f"choice `{c.name}` is defined twice", c.span,
                                             f"first defined at line {first.line}"))
                continue
            if c.name in op_names:
                self.err(NameResolutionError(
                    f"choice `{c.name}` has the name of an op", c.span,
                    "rename the choice: an edge `name(state)` must say unambiguously what it is"))
            if c.name in COMBINERS:
                self.err(NameResolutionError(f"`{c.name}` is a combiner and cannot name a choice", c.span))
            self.choices[c.name] = c

    def candidates(self, calls: list[Call]) -> tuple[OpCall, ...]:
        out = []
        for c in calls:
            if c.name in self.choices:
                self.err(ValidationError(f"choice `{c.name}` cannot be a candidate of another choice",
                                         c.span, "list its candidates instead"))
            out.append(_op_call(c, self.errors, "candidates of a choice"))
        return tuple(out)

    # -- cells --
    def edge(self, term: Term) -> Edge | None:
        """One edge: a bare state (identity), `op(state, k=v)` or `[a, b](state)`."""
        if isinstance(term, Call) and term.args is None:
            if term.name in self.choices:
                self.err(ParseError(f"choice `{term.name}` needs an input state: `{term.name}(s0)`",
                                    term.span))
            return Edge(input=term.name, op=OpCall(op="identity", span=term.span), span=term.span)
        args = term.args or []
        label = term.name if isinstance(term, Call) else "[...]"
        states = [a for a in args if not isinstance(a, Kwarg)]
        kwargs = [a for a in args if isinstance(a, Kwarg)]
        if not states:
            self.err(ParseError(f"edge `{label}(...)` needs an input state", term.span,
                                f"the first argument is the state it reads: `{label}(s0)`"))
            return None
        if len(states) > 1:
            self.err(ParseError(f"an edge reads one state, `{label}` is given {len(states)}", states[1].span,
                                "sum edges with `+`, or combine them with `concat(...)` / `proj(...)`"))
            return None
        state = states[0]
        if not isinstance(state, Call) or state.args is not None:
            self.err(ParseError("ops cannot be nested: the input of an edge is a state name", state.span,
                                "give the inner op a node of its own, or define a composite op"))
            return None
        drop_path = False
        op_args: dict[str, Expr] = {}
        for k in kwargs:
            if k.name == "drop_path":
                if not isinstance(k.value, Lit) or not isinstance(k.value.value, bool):
                    self.err(ValidationError("`drop_path` must be true or false", k.span))
                else:
                    drop_path = k.value.value
            elif k.name in op_args:
                self.err(NameResolutionError(f"argument `{k.name}` given twice", k.span))
            else:
                op_args[k.name] = k.value
        op: OpCall | Choice
        if isinstance(term, InlineChoice):
            if op_args:
                self.err(ParseError("a choice edge takes no arguments besides its state", term.span,
                                    "give the arguments to the candidates: `[conv_bn(k=1), ...]`"))
            op = Choice(candidates=self.candidates(term.candidates), span=term.span)
        elif term.name in self.choices:
            if op_args:
                self.err(ParseError(f"choice edge `{term.name}` takes no arguments besides its state",
                                    term.span, "give the arguments to the candidates in the choice"))
            op = Choice(candidates=self.candidates(self.choices[term.name].candidates),
                        name=term.name, span=term.span)
        else:
            op = OpCall(op=term.name, args=op_args, span=term.span)
        return Edge(input=state.name, op=op, drop_path=drop_path, span=term.span)

    def node(self, stmt: NodeStmt) -> Node:
        terms = stmt.terms
        combine = "sum"
        first = terms[0]
        if isinstance(first, Call) and first.args is not None and first.name in COMBINERS \
                and first.name not in self.choices:
            if len(terms) > 1:
                self.err(ParseError(f"`{first.name}(...)` combines the whole node and cannot be summed",
                                    terms[1].span, f"put every edge inside `{first.name}(...)`"))
            combine = first.name
            terms = []
            for a in first.args:
                if isinstance(a, Kwarg):
                    self.err(ParseError(f"`{first.name}` takes edges, not arguments", a.span))
                else:
                    terms.append(a)
            if not terms:
                self.err(ValidationError(f"`{first.name}()` needs at least one edge", first.span))
        else:
            for t in terms[1:]:
                if isinstance(t, Call) and t.args is not None and t.name in COMBINERS:
                    self.err(ParseError(f"`{t.name}(...)` combines the whole node and cannot be summed",
                                        t.span, f"put every edge inside `{t.name}(...)`"))
        edges = [e for e in (self.edge(t) for t in terms) if e is not None]
        return Node(name=stmt.name, edges=tuple(edges), combine=combine, keep=stmt.keep,  # type: ignore[arg-type]
                    span=stmt.span)

    def output(self, ret: ReturnStmt) -> tuple[tuple[str, ...], str]:
        terms = ret.terms
        first = terms[0]
        if len(terms) == 1 and isinstance(first, Call) and first.args is not None:
            if first.name not in ("concat", "sum"):
                self.err(ParseError(
                    f"`return {first.name}(...)`: a cell returns states", first.span,
                    "write `return n3`, `return concat(n0, n1)` or `return sum(n0, n1)`; "
                    "apply ops in a node"))
                return (), "concat"
            names = []
            for a in first.args:
                if isinstance(a, Call) and a.args is None:
                    names.append(a.name)
                else:
                    self.err(ParseError(f"`{first.name}` in `return` takes state names", a.span,
                                        "apply ops in a node and return the node"))
            return tuple(names), first.name
        names = []
        for t in terms:
            if isinstance(t, Call) and t.args is None:
                names.append(t.name)
            else:
                self.err(ParseError("a cell returns states", t.span,
                                    "write `return n3`, `return concat(n0, n1)` or `return n0 + n1`"))
        return tuple(names), ("sum" if len(terms) > 1 else "concat")

    def cell(self, c: CellDef) -> Cell:
        inputs = []
        for name, call, span in c.inputs:
            op = None
            if call is not None:
                if call.name in self.choices:
                    self.err(ParseError("a cell input cannot be preprocessed by a choice", call.span))
                op = _op_call(call, self.errors, "preprocessing ops")
            inputs.append(CellInput(name=name, op=op, span=span))
        nodes: list[Node] = []
        ret: ReturnStmt | None = None
        for s in c.stmts:
            if isinstance(s, ReturnStmt):
                if ret is not None:
                    self.err(ParseError(f"cell `{c.name}` has two `return`s", s.span))
                ret = s
            elif ret is not None:
                self.err(ParseError(f"node `{s.name}` comes after `return`", s.span,
                                    "`return` is the last statement of a cell"))
            else:
                nodes.append(self.node(s))
        output: tuple[str, ...] = ()
        combine = "concat"
        if ret is None:
            self.err(ParseError(f"cell `{c.name}` has no `return`", c.span,
                                "end the cell with e.g. `return concat(n0, n1, n2, n3)`"))
        else:
            output, combine = self.output(ret)
        return Cell(name=c.name, inputs=tuple(inputs), nodes=tuple(nodes), output=output,
                    output_combine=combine, span=c.span)  # type: ignore[arg-type]

    # -- network --
    def op_value(self, e: Entry) -> OpCall | None:
        v = e.value
        if isinstance(v, Call):
            return _op_call(v, self.errors, f"ops in `{e.key}`")
        if isinstance(v, Ref):
            return OpCall(op=v.name, span=v.span)
        self.err(ValidationError(f"`{e.key}` must be an op, e.g. `{e.key} = classifier`", e.value_span))
        return None

    def expr_value(self, e: Entry) -> Expr | None:
        if isinstance(e.value, (Call, EmptyTuple)):
            what = "an op call" if isinstance(e.value, Call) else "`()`"
            self.err(ValidationError(f"`{e.key}` takes an expression, not {what}", e.value_span))
            return None
        return e.value

    def network(self, net: NetworkDef, cells: list[Cell], params: list[Param], ops: list[OpDef]) -> Model | None:
        seen: dict[str, Entry] = {}
        stems: list[OpCall] = []
        for e in net.entries:
            if e.key not in NETWORK_KEYS:
                self.err(NameResolutionError(
                    f"unknown network key `{e.key}`", e.key_span,
                    did_you_mean(e.key, NETWORK_KEYS) or "known keys: " + ", ".join(NETWORK_KEYS)))
                continue
            if e.key != "aux" and (e.after is not None or e.weight is not None):
                self.err(ParseError(f"`after`/`weight` belong to `aux`, not `{e.key}`", e.value_span))
            if e.key == "stem":
                call = self.op_value(e)
                if call is not None:
                    stems.append(call)
                continue
            if e.key in seen:
                self.err(NameResolutionError(f"network key `{e.key}` is given twice", e.key_span,
                                             f"first given at line {seen[e.key].key_span.line}"))
                continue
            seen[e.key] = e
        missing = [k for k in REQUIRED_KEYS if k not in seen and not (k == "stem" and stems)]
        for k in missing:
            example = {"input": "input = (3, 32, 32)", "classes": "classes = 10",
                       "stem": "stem = cifar_stem(C_out=C * 3)", "cells": "cells = 8",
                       "channels": "channels = 16", "head": "head = classifier"}[k]
            self.err(ValidationError(f"network `{net.name}` has no `{k}`", net.span, f"add `{example}`"))

        def expr(key: str) -> Expr | None:
            return self.expr_value(seen[key]) if key in seen else None

        input_shape: tuple[Expr, Expr, Expr] | None = None
        if "input" in seen:
            v = expr("input")
            if isinstance(v, TupleExpr) and len(v.items) == 3:
                input_shape = (v.items[0], v.items[1], v.items[2])
            elif v is not None:
                self.err(ValidationError("`input` must be a (channels, height, width) tuple",
                                         seen["input"].value_span, "write e.g. `input = (3, 32, 32)`"))
        reductions: tuple[Expr, ...] | None = None
        if "reductions" in seen:
            e = seen["reductions"]
            if isinstance(e.value, EmptyTuple):
                reductions = ()
            elif isinstance(e.value, TupleExpr):
                reductions = e.value.items
            else:
                v = self.expr_value(e)
                reductions = (v,) if v is not None else None
        names: dict[str, str] = {}
        for key in ("normal", "reduce"):
            if key in seen:
                v = seen[key].value
                if isinstance(v, Ref):
                    names[key] = v.name
                else:
                    self.err(ValidationError(f"`{key}` names a cell template, e.g. `{key} = {key}`",
                                             seen[key].value_span))
        affine = True
        if "affine" in seen:
            v = seen["affine"].value
            if isinstance(v, Lit) and isinstance(v.value, bool):
                affine = v.value
            else:
                self.err(ValidationError("`affine` must be true or false", seen["affine"].value_span))
        head = self.op_value(seen["head"]) if "head" in seen else None
        aux = None
        if "aux" in seen:
            e = seen["aux"]
            call = self.op_value(e)
            if e.after is None:
                self.err(ValidationError("`aux` needs the cell it reads: `aux = OP after CELL_INDEX`",
                                         e.value_span,
                                         "write e.g. `aux = cifar_aux after 2 * layers // 3 weight 0.4`"))
            elif call is not None:
                extra = {"weight": e.weight} if e.weight is not None else {}
                aux = AuxHead(op=call, after=e.after, span=e.span, **extra)
        cells_e, channels_e, classes_e = expr("cells"), expr("channels"), expr("classes")
        growth = expr("growth") if "growth" in seen else None
        if None in (input_shape, cells_e, channels_e, classes_e, head) or not stems or \
                (growth is None and "growth" in seen):
            return None
        layout_extra: dict[str, Any] = dict(names)
        if growth is not None:
            layout_extra["growth"] = growth
        layout = Layout(cells=cells_e, channels=channels_e, reductions=reductions, span=net.span,
                        **layout_extra)
        return Model(name=net.name, imports=tuple(i.name for i in self.src.imports), params=tuple(params),
                     ops=tuple(ops), input=input_shape, classes=classes_e, stems=tuple(stems),
                     cells=tuple(cells), layout=layout, head=Head(op=head, span=seen["head"].span), aux=aux,
                     affine=affine, span=net.span)

    def build(self) -> Model:
        src = self.src
        self.collect_choices()
        cells = [self.cell(c) for c in src.cells]
        ops = [*self.imported, *src.ops]
        model = None
        if not src.networks:
            where = Span(file=src.file, line=1, col=1, end_line=1, end_col=2)
            self.err(ValidationError("the file defines no `network`", where,
                                     "add `network NAME { input = ... cells = ... }`; "
                                     "files with only ops are libraries: `import` them"))
        for extra in src.networks[1:]:
            self.err(NameResolutionError(f"a file defines one network; `{extra.name}` is a second one",
                                         extra.span, f"first one: `{src.networks[0].name}`"))
        if src.networks:
            model = self.network(src.networks[0], cells, list(src.params), ops)
        if self.errors or model is None:
            self.errors.extend(self.partial_verify(cells, ops))
            raise Diagnostics(self.errors or [ValidationError("invalid network", None)])
        return model

    def partial_verify(self, cells: list[Cell], ops: list[OpDef]) -> list[NascError]:
        """When the network cannot be built, still check the params, ops and cells (unless an
        error was found inside a cell already: its half-built nodes would only add noise)."""
        from nasc.ir.verify import verify

        cell_lines = [(s, e) for kind, _, s, e in self.src.items if kind == "cell"]
        for err in self.errors:
            if err.span is not None and any(s <= err.span.line <= e for s, e in cell_lines):
                return []
        one = Lit(value=1)
        stub = Model(name=self.src.networks[0].name if self.src.networks else "_", params=tuple(self.src.params),
                     imports=tuple(i.name for i in self.src.imports), ops=tuple(ops), input=(one, one, one),
                     classes=one, stems=(), cells=tuple(cells), layout=Layout(cells=one, channels=one),
                     head=Head(op=OpCall(op="identity")))
        try:
            return verify(stub, network=False)
        except RecursionError:
            return []


def build_model(src: SourceFile, imported_ops: tuple[OpDef, ...] = ()) -> Model:
    """Build the `Model` of a parsed file; every problem found is raised together as `Diagnostics`."""
    return _Builder(src, imported_ops).build()


def library_ops(src: SourceFile, module: str) -> tuple[OpDef, ...]:
    """The ops of an imported library file, marked with `module`; other items are errors."""
    errors = list(src.errors)
    for kind, name, line, _ in src.items:
        if kind not in ("op", "import"):
            errors.append(ValidationError(
                f"an imported file may only define ops; `{module}` defines {kind} `{name}`",
                Span(file=src.file, line=line, col=1, end_line=line, end_col=2),
                "move it into the file that imports the library"))
    if errors:
        raise Diagnostics(errors)
    return tuple(op.model_copy(update={"module": module}) for op in src.ops)
