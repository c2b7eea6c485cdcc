"""The .nas front end: text -> `SourceFile` -> IR, with a `Span` on every node.

Two steps. `read_source(text, file)` parses the text (`nasc.frontend.syntax`) and turns the tree
into a `SourceFile` with the transformer of `nasc.frontend.transform` (one method per grammar
rule; expressions, params and ops become IR right away, calls in cells and the network stay raw,
see `nasc.frontend.raw`). `build_model(src, imported_ops)` then builds the `Model`
(`nasc.frontend.builder`), collecting every error it finds into one `Diagnostics`.

The transformer is lark's non-recursive one and expressions deeper than `MAX_DEPTH` are refused,
so no input can make the front end hit Python's recursion limit.
"""
from __future__ import annotations

from typing import Any

from nasc.errors import Diagnostics, NascError, ValidationError
from nasc.frontend.builder import COMBINERS, NETWORK_KEYS, REQUIRED_KEYS, ModelBuilder
from nasc.frontend.raw import (
    Arg, Call, CellDef, ChoiceDef, Comment, EmptyTuple, Entry, ImportItem, InlineChoice, Kwarg, NetworkDef,
    NodeStmt, RawInput, ReturnStmt, SourceFile, Term,
)
from nasc.frontend.syntax import parse_text
from nasc.frontend.transform import ToSource
from nasc.ir.expr_syntax import MAX_DEPTH, MAX_INT
from nasc.ir.model import Model, OpDef, Param
from nasc.source import Span

__all__ = [
    "COMBINERS", "MAX_DEPTH", "MAX_INT", "NETWORK_KEYS", "REQUIRED_KEYS", "Arg", "Call", "CellDef", "ChoiceDef",
    "Comment", "EmptyTuple", "Entry", "ImportItem", "InlineChoice", "Kwarg", "NetworkDef", "NodeStmt", "RawInput",
    "ReturnStmt", "SourceFile", "Term", "build_model", "library_ops", "read_source",
]


def read_source(text: str, file: str | None) -> SourceFile:
    """Parse .nas text into a `SourceFile`; syntax errors raise `ParseError`."""
    from lark.exceptions import VisitError

    tree, comment_toks = parse_text(text, file)
    src = SourceFile(file=file)
    try:
        items = ToSource(file, src.errors).transform(tree)
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


def build_model(src: SourceFile, imported_ops: tuple[OpDef, ...] = ()) -> Model:
    """Build the `Model` of a parsed file; every problem found is raised together as `Diagnostics`."""
    return ModelBuilder(src, imported_ops).build()


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
