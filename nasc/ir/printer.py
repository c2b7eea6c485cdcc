"""The canonical .nas printer: `print_model(model) -> str`, with `parse(print(ir)) == ir`.

Canonical form: imports, params, the model's own ops (imported ones are not printed, their
`import` line is), named choices (each once, in order of first use), cells, then the network.
An identity edge prints as its bare state, a sum node as `a(x) + b(y)`, network keys only when
they differ from their defaults, and lines longer than `WIDTH` are wrapped where it is safe.

`nasc fmt` passes the source's comments (`notes`, from `nasc.frontend.dsl.SourceFile`): each
comment stays with the item it was written in or above, so formatting never loses a comment and
formatting twice changes nothing. Op doc comments round-trip through `OpDef.doc`.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from nasc.ir.expr import Expr, Lit, TupleExpr, format_expr
from nasc.ir.macro import DEFAULT_GROWTH
from nasc.ir.model import (
    LOCAL_MODULE, Cell, CellInput, Choice, Edge, IfStmt, Model, Node, OpCall, OpDef, Param, Stmt,
)

WIDTH = 100
INDENT = "  "


# ---- pieces --------------------------------------------------------------------------------------

def format_call(call: OpCall, state: str | None = None, extra: Iterable[str] = ()) -> str:
    """`name`, or `name(state, k=v, ...)` when there is a state or arguments."""
    parts = ([state] if state is not None else []) + [f"{k}={format_expr(v)}" for k, v in call.args.items()]
    parts += list(extra)
    return f"{call.op}({', '.join(parts)})" if parts else call.op


def format_value(v: bool | int | float | str) -> str:
    """A param value as source text."""
    return format_expr(Lit(value=v))


def _tuple_text(items: tuple[Expr, ...]) -> str:
    return format_expr(TupleExpr(items=items)) if items else "()"


class _Choices:
    """Named choices of the model: the first definition of each name is printed as `choice`."""

    def __init__(self, model: Model) -> None:
        self.defs: dict[str, Choice] = {}
        for c in model.cells:
            for n in c.nodes:
                for e in n.edges:
                    if isinstance(e.op, Choice) and e.op.name and e.op.name not in self.defs:
                        self.defs[e.op.name] = e.op

    def named(self, ch: Choice) -> bool:
        return ch.name is not None and self.defs.get(ch.name) == ch


def format_edge(e: Edge, choices: _Choices | None = None) -> str:
    """An edge as cell source: bare state, `op(state, ...)`, `choice(state)` or `[a, b](state)`."""
    extra = ["drop_path=true"] if e.drop_path else []
    op = e.op
    if isinstance(op, OpCall):
        if op.op == "identity" and not op.args and not extra:
            return e.input
        return format_call(op, e.input, extra)
    if choices is not None and choices.named(op):
        return f"{op.name}({', '.join([e.input, *extra])})"
    cands = ", ".join(format_call(c) for c in op.candidates)
    return f"[{cands}]({', '.join([e.input, *extra])})"


def format_node(n: Node, choices: _Choices | None = None) -> str:
    """`name = ...` for one cell node."""
    edges = [format_edge(e, choices) for e in n.edges]
    if n.combine == "sum" and edges:
        rhs = " + ".join(edges)
    else:
        rhs = f"{n.combine}({', '.join(edges)})"
    keep = f" keep {n.keep}" if n.keep is not None else ""
    return f"{n.name} = {rhs}{keep}"


def format_return(cell: Cell) -> str:
    """The `return` line of a cell."""
    out = cell.output
    if cell.output_combine == "concat":
        return f"return {out[0]}" if len(out) == 1 else f"return concat({', '.join(out)})"
    return f"return {' + '.join(out)}" if len(out) > 1 else f"return sum({', '.join(out)})"


def _wrap_list(head: str, items: list[str], tail: str, indent: str) -> list[str]:
    """`head item, item, ...tail`, wrapped at WIDTH into as few lines as greedy filling needs, with
    the items spread evenly over them; continuation lines start under the first item."""
    one = head + ", ".join(items) + tail
    if len(indent + one) <= WIDTH or len(items) < 2:
        return [one]
    pad = " " * len(head)

    def render(chunks: list[list[str]]) -> list[str]:
        out = []
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            out.append((head if i == 0 else pad) + ", ".join(chunk) + (tail if last else ","))
        return out

    greedy: list[list[str]] = [[]]
    for it in items:
        trial = render(greedy[:-1] + [greedy[-1] + [it]])[-1]
        if greedy[-1] and len(indent + trial) + len(tail) > WIDTH:
            greedy.append([it])
        else:
            greedy[-1].append(it)
    n = len(greedy)
    per = -(-len(items) // n)  # ceil
    even = [items[i:i + per] for i in range(0, len(items), per)]
    lines = render(even)
    if len(even) == n and all(len(indent + ln) <= WIDTH for ln in lines):
        return lines
    return render(greedy)


# ---- comment placement -------------------------------------------------------------------------

class _Out:
    """Collects output lines and places the source comments handed to it."""

    def __init__(self, comments: Iterable[Any] = ()) -> None:
        self.lines: list[str] = []
        self.pending: deque[Any] = deque(sorted(comments, key=lambda c: (c.line, c.col)))
        self.last_comment: int | None = None

    def _own(self, c: Any, indent: str) -> None:
        if self.last_comment is not None and c.line > self.last_comment + 1 and self.lines \
                and self.lines[-1] != "":
            self.lines.append("")
        self.lines.append(indent + c.text)
        self.last_comment = c.line

    def leading(self, line: int | None, indent: str) -> bool:
        """Emit the comments written before source line `line`; whether there were any."""
        if line is None:
            return False
        any_ = False
        while self.pending and self.pending[0].line < line:
            self._own(self.pending.popleft(), indent)
            any_ = True
        if any_ and self.last_comment is not None and line > self.last_comment + 1:
            self.lines.append("")  # the source had a blank line between the comments and this
        self.last_comment = None
        return any_

    def line(self, text: str, indent: str = "", start: int | None = None, end: int | None = None) -> None:
        """Emit one line for source lines `start..end`, with the comments written on them."""
        self.leading(start, indent)
        trailing = []
        if start is not None:
            last = end if end is not None else start
            while self.pending and self.pending[0].line <= last:
                trailing.append(self.pending.popleft().text)
        # a multi-line item may carry several comments; one line holds only one (joined, they
        # would read back as a single comment), so all but the last go on their own lines above
        self.lines.extend(indent + t for t in trailing[:-1])
        self.lines.append(indent + text + ("  " + trailing[-1] if trailing else ""))

    def rest(self, indent: str) -> None:
        """Emit every comment not placed yet (the end of a block or of the file)."""
        while self.pending:
            self._own(self.pending.popleft(), indent)
        self.last_comment = None


def _ln(node: Any) -> int | None:
    span = getattr(node, "span", None)
    return span.line if span is not None else None


def _end(node: Any) -> int | None:
    span = getattr(node, "span", None)
    return (span.end_line or span.line) if span is not None else None


# ---- items ---------------------------------------------------------------------------------------

def _stmt_lines(out: _Out, body: tuple[Stmt, ...], indent: str) -> None:
    for s in body:
        if isinstance(s, IfStmt):
            _if_lines(out, s, indent, "if")
        else:
            out.line(format_call(s), indent, _ln(s), _end(s))


def _inline_if(s: IfStmt) -> str | None:
    """`if c { a } else { b }` on one line, when both branches are short plain pipelines."""
    if any(isinstance(x, IfStmt) for x in (*s.then, *s.orelse)) or len(s.then) > 2 or len(s.orelse) > 2:
        return None
    text = f"if {format_expr(s.cond)} {{ {' '.join(format_call(x) for x in s.then)} }}"  # type: ignore[arg-type]
    if not s.then:
        text = f"if {format_expr(s.cond)} {{ }}"
    if s.orelse:
        text += f" else {{ {' '.join(format_call(x) for x in s.orelse)} }}"  # type: ignore[arg-type]
    return text


def _if_lines(out: _Out, s: IfStmt, indent: str, keyword: str) -> None:
    inline = _inline_if(s) if keyword == "if" else None
    if inline is not None and len(indent + inline) <= WIDTH:
        out.line(inline, indent, _ln(s), _end(s))
        return
    out.line(f"{keyword} {format_expr(s.cond)} {{", indent, _ln(s))
    _stmt_lines(out, s.then, indent + INDENT)
    if len(s.orelse) == 1 and isinstance(s.orelse[0], IfStmt):
        _if_lines(out, s.orelse[0], indent, "} else if")
        return
    if s.orelse:
        out.line("} else {", indent)
        _stmt_lines(out, s.orelse, indent + INDENT)
    out.line("}", indent)


def _op_lines(out: _Out, d: OpDef, first: int | None) -> None:
    out.leading(first, "")
    for doc_line in (d.doc.split("\n") if d.doc is not None else []):
        out.lines.append(f"# {doc_line}".rstrip() if doc_line else "#")
    params = ""
    if d.params:
        params = "(" + ", ".join(p.name if p.default is None else f"{p.name}={format_expr(p.default)}"
                                 for p in d.params) + ")"
    if len(d.body) == 1 and isinstance(d.body[0], OpCall):
        out.line(f"op {d.name}{params} = {format_call(d.body[0])}", "", _ln(d), _end(d.body[0]))
        return
    out.line(f"op {d.name}{params} {{", "", _ln(d))
    _stmt_lines(out, d.body, INDENT)
    out.rest(INDENT)
    out.line("}")


def _input_text(i: CellInput) -> str:
    return f"{i.name}: {format_call(i.op)}" if i.op is not None else i.name


def _cell_lines(out: _Out, c: Cell, choices: _Choices, first: int | None) -> None:
    out.leading(first, "")
    out.line(f"cell {c.name}({', '.join(_input_text(i) for i in c.inputs)}) {{", "", _ln(c))
    for n in c.nodes:
        out.line(format_node(n, choices), INDENT, _ln(n), _end(n))
    out.rest(INDENT)
    out.line(format_return(c), INDENT)
    out.line("}")


def _choice_lines(out: _Out, name: str, ch: Choice, first: int | None) -> None:
    out.leading(first, "")
    lines = _wrap_list(f"choice {name} = [", [format_call(x) for x in ch.candidates], "]", "")
    for i, text in enumerate(lines):
        out.line(text, "", first if i == 0 else None)


def _network_lines(out: _Out, m: Model, entry_lines: dict[str, list[int]], first: int | None) -> None:
    out.leading(first, "")
    out.line(f"network {m.name} {{", "", _ln(m))
    stems_seen = 0

    def entry(key: str, value: str) -> None:
        nonlocal stems_seen
        lines = entry_lines.get(key, [])
        idx = stems_seen if key == "stem" else 0
        stems_seen += key == "stem"
        at = lines[idx] if idx < len(lines) else None
        out.line(f"{key} = {value}", INDENT, at)

    lay = m.layout
    entry("input", _tuple_text(tuple(m.input)))
    entry("classes", format_expr(m.classes))
    for s in m.stems:
        entry("stem", format_call(s))
    entry("cells", format_expr(lay.cells))
    entry("channels", format_expr(lay.channels))
    if lay.reductions is not None:
        entry("reductions", _tuple_text(lay.reductions))
    if lay.normal != "normal":
        entry("normal", lay.normal)
    if lay.reduce != "reduce":
        entry("reduce", lay.reduce)
    g = lay.growth
    if not (isinstance(g, Lit) and type(g.value) is int and g.value == DEFAULT_GROWTH):  # the default is not printed
        entry("growth", format_expr(lay.growth))
    entry("head", format_call(m.head.op))
    if m.aux is not None:
        entry("aux", f"{format_call(m.aux.op)} after {format_expr(m.aux.after)} "
                     f"weight {format_expr(m.aux.weight)}")
    if not m.affine:
        entry("affine", "false")
    out.rest(INDENT)
    out.line("}")


# ---- the model -----------------------------------------------------------------------------------

def print_model(model: Model, notes: Any = None) -> str:
    """The canonical .nas text of `model` (ending with one newline).

    `notes` (optional, a `nasc.frontend.dsl.SourceFile` of the same text) carries the comments
    of the source so that `nasc fmt` keeps them next to the items they belong to.
    """
    return _render(model.imports, model.params, model.ops, model.cells, model, notes)


def print_library(imports: Iterable[str], ops: Iterable[OpDef], notes: Any = None) -> str:
    """The canonical text of an op library (a file with imports and ops only, like std.nas)."""
    return _render(tuple(imports), (), tuple(ops), (), None, notes)


def _render(imports: tuple[str, ...], params: tuple[Param, ...], ops: tuple[OpDef, ...],
            cells: tuple[Cell, ...], model: Model | None, notes: Any) -> str:
    comments = list(getattr(notes, "comments", []) or [])
    items = list(getattr(notes, "items", []) or [])
    entry_lines: dict[str, list[int]] = dict(getattr(notes, "entry_lines", {}) or {})

    # Assign each comment to the top-level item it precedes or sits in (in source order), so
    # reordering items into canonical order moves comments along with them.
    ranges: dict[tuple[str, str], tuple[int, int]] = {}
    for kind, name, start, end in items:
        ranges.setdefault((kind, name), (start, end))
    order = sorted(ranges.items(), key=lambda kv: kv[1][0])
    owned: dict[tuple[str, str], list[Any]] = {k: [] for k in ranges}
    header: list[Any] = []
    footer: list[Any] = []
    first_start = order[0][1][0] if order else None
    header_end = _header_end(comments, first_start)
    for c in comments:
        if header_end is not None and c.line <= header_end:
            header.append(c)
            continue
        target = next((k for k, (s, e) in order if c.line <= e), None)
        if target is None:
            footer.append(c)
        else:
            owned[target].append(c)

    blocks: list[tuple[str, list[str]]] = []  # (group, lines)

    emitted: set[tuple[str, str]] = set()

    def block(group: str, key: tuple[str, str], fill: Any) -> None:
        emitted.add(key)
        out = _Out(owned.get(key, []))
        start = ranges[key][0] if key in ranges else None
        fill(out, start)
        out.rest("")
        blocks.append((group, out.lines))

    for imp in imports:
        text = f'import "{imp}"' if not imp.isidentifier() else f"import {imp}"
        block("import", ("import", imp), lambda out, s, t=text: out.line(t, "", s))
    for p in params:
        block("param", ("param", p.name), lambda out, s, p=p: _param_line(out, p, s))
    for d in ops:
        if d.module == LOCAL_MODULE:
            one_line = len(d.body) == 1 and isinstance(d.body[0], OpCall)
            block("alias" if one_line else "op", ("op", d.name), lambda out, s, d=d: _op_lines(out, d, s))
    if model is not None:
        choices = _Choices(model)
        for name, ch in choices.defs.items():
            block("choice", ("choice", name), lambda out, s, n=name, c=ch: _choice_lines(out, n, c, s))
        for c in cells:
            block("cell", ("cell", c.name), lambda out, s, c=c: _cell_lines(out, c, choices, s))
        block("network", ("network", model.name),
              lambda out, s: _network_lines(out, model, entry_lines, s))

    # comments of source items the IR does not keep (an unused named `choice`) are never
    # dropped: they go to the end of the file, in source order
    footer = sorted([c for k, cs in owned.items() if k not in emitted for c in cs] + footer,
                    key=lambda c: (c.line, c.col))
    lines: list[str] = [c.text for c in header]
    if header and (first_start is None or header_end is None or header_end + 1 < first_start):
        lines.append("")
    prev: str | None = None
    for group, blines in blocks:
        if prev is not None:
            grouped = group == prev and group in ("import", "param", "alias", "choice") \
                and not (blines and blines[0].startswith("#"))
            if not grouped:
                lines.append("")
        lines.extend(blines)
        prev = group
    if footer:
        lines.append("")
        lines.extend(c.text for c in footer)
    # never two blank lines in a row, none at the end
    clean: list[str] = []
    for ln in lines:
        if ln == "" and (not clean or clean[-1] == ""):
            continue
        clean.append(ln)
    while clean and clean[-1] == "":
        clean.pop()
    return "\n".join(clean) + "\n"


def _param_line(out: _Out, p: Param, start: int | None) -> None:
    out.line(f"param {p.name} = {format_value(p.default)}", "", start)


def _header_end(comments: list[Any], first_start: int | None) -> int | None:
    """The last line of the file's header: the run of own-line comments starting on line 1
    (it stays at the top of the file whatever item comes first in canonical order)."""
    lines = {c.line for c in comments if c.own_line and (first_start is None or c.line < first_start)}
    if 1 not in lines:
        return None
    end = 1
    while end + 1 in lines:
        end += 1
    return end
