"""The lark parser of the nasc grammar (`grammar/nasc.lark`), shared by every reader of nasc text.

One LALR parser (positions on) with two start rules: `start`, a whole `.nas` file (the front end),
and `expr`, one expression (YAML scalars such as `"C * 3"`, `--set` values), so expression text is
read by the same grammar rules wherever it appears. It is built once per process; lark caches its
tables on disk between runs, so `nasc check` starts fast.

Comments are ignored tokens that lark reports through a callback fixed when the parser is built.
The callback appends to the list of the innermost `collecting_comments()` block of the current
context (a `ContextVar`), so every parse owns its comment list: nothing is shared between parses,
threads or nested parses.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING

from nasc.resources import grammar_path

if TYPE_CHECKING:
    from lark import Lark, Token

START_RULES = ("start", "expr")  # a file; one expression
_COMMENT_SINK: ContextVar[list[Token] | None] = ContextVar("nasc_comment_sink", default=None)


def _on_comment(tok: Token) -> None:
    sink = _COMMENT_SINK.get()
    if sink is not None:
        sink.append(tok)


@lru_cache(maxsize=1)
def grammar_parser() -> Lark:
    """The nasc LALR parser (start rules `start` and `expr`), built once per process."""
    from lark import Lark

    text = grammar_path().read_text(encoding="utf-8")
    opts = dict(parser="lalr", propagate_positions=True, maybe_placeholders=True, start=list(START_RULES),
                lexer_callbacks={"COMMENT": _on_comment})
    try:
        return Lark(text, cache=True, **opts)  # type: ignore[arg-type]
    except OSError:  # an unwritable temp dir: build without the disk cache
        return Lark(text, **opts)  # type: ignore[arg-type]


@contextmanager
def collecting_comments() -> Iterator[list[Token]]:
    """Collect the comment tokens of the parses run inside the block into the yielded list."""
    sink: list[Token] = []
    reset = _COMMENT_SINK.set(sink)
    try:
        yield sink
    finally:
        _COMMENT_SINK.reset(reset)
