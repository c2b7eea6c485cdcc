"""The raw forms of a parsed .nas file: what the transformer builds before the IR exists.

Expressions, params and ops become IR right away; calls in cells and the network stay raw here
(`Call`, `InlineChoice`, `Entry`, ...) because what a name means depends on the whole file:
`foo(s0)` is a `Choice` when `foo` is a named choice, else an `OpCall`. `SourceFile` collects
everything read from one file, plus what the formatter needs (comments, item lines).
"""
from __future__ import annotations

from typing import NamedTuple, Union

from nasc.errors import NascError
from nasc.ir.expr import Expr
from nasc.ir.model import OpDef, Param
from nasc.source import Span


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


class Alias(NamedTuple):
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
