"""The .nas parser: the lark LALR parser of the grammar and friendly syntax-error messages.

The parser itself is `nasc.ir.grammar.grammar_parser()` (one per process, shared with the
expression reader; lark caches its tables on disk), so `nasc check` starts fast. Syntax errors
become `ParseError`s with a span; common mistakes get a message of their own, picked either by the
LALR state a known bad example fails in (lark's `match_examples` idea, see `_known_mistake`) or by
what the parser expected (a missing `)` is reported where it should go, with the position of the
unclosed `(`). Nothing here keeps per-parse state between calls.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from nasc.errors import ParseError, did_you_mean
from nasc.ir.grammar import collecting_comments, grammar_parser
from nasc.ir.names import RESERVED
from nasc.source import Span

if TYPE_CHECKING:
    from lark import Lark, Token, Tree
    from lark.exceptions import UnexpectedInput, UnexpectedToken

KEYWORDS = ("import", "param", "op", "choice", "cell", "network")
_RESERVED_TYPES = {w.upper() for w in RESERVED}
_OPENERS = {"LPAR": ("(", "RPAR"), "LSQB": ("[", "RSQB"), "LBRACE": ("{", "RBRACE")}
_CLOSERS = {"RPAR", "RSQB", "RBRACE"}
_READABLE = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "$END": "end of file",
             "CMP": "a comparison", "MULOP": "`*`", "PLUS": "`+`", "MINUS": "`-`"}
_EXPR_START = {"NUMBER", "STRING", "NAME", "TRUE", "FALSE", "MINUS", "NOT", "LPAR"}

# Known mistakes, recognised by the parser state they fail in (see `_known_mistake`).
_EXAMPLES: dict[tuple[str, str], list[str]] = {
    ("missing `=` after the param name", "write `param NAME = VALUE`"): [
        "param C 36", "param C\n", "param C (3)", "param C 'x'",
    ],
    ("an op needs a body", "write `op NAME { ... }` or `op NAME = other_op(...)`"): [
        "op foo\nop bar = x", "op foo(k)\nparam x = 1", "op foo := bar", "op foo(k) := bar",
    ],
    ("a cell lists its input states in parentheses", "write `cell NAME(s0, s1) { ... }`"): [
        "cell normal { }", "cell normal\n{", "cell normal s0",
    ],
    ("`if` branches need braces", "write `if stride == 1 { identity } else { factorized_reduce }`"): [
        "op a { if x == 1 identity }", "op a { if x == 1 { b } else c }",
    ],
    ("`keep` needs a count", "write `keep 2` after the node's edges"): [
        "cell c(x) { n = a(x) keep }", "cell c(x) { n = a(x) keep b }",
    ],
    ("missing `=` after the network key", "network entries are written `key = value`"): [
        "network n { cells 8 }", "network n { cells = 8 channels 16 }", "network n { stem cifar_stem }",
    ],
    ("missing `=` after the node name", "a node is written `n0 = op(state) + op(state)`"): [
        "cell c(x) { n0 a(x) }", "cell c(x) { n0 + a(x) }",
    ],
    ("a choice lists its candidates in brackets", "write `choice NAME = [op_a, op_b]`"): [
        "choice c = a", "choice c = (a, b)", "choice c [a]",
    ],
}


def parser() -> Lark:
    """The nasc LALR parser (`nasc.ir.grammar.grammar_parser`)."""
    return grammar_parser()


def parse_text(text: str, file: str | None) -> tuple[Tree, list[Token]]:
    """Parse .nas text into a lark tree and its comment tokens; syntax errors raise `ParseError`."""
    from lark.exceptions import UnexpectedInput

    with collecting_comments() as comments:
        try:
            tree = parser().parse(text, start="start")
        except UnexpectedInput as e:
            raise syntax_error(e, text, file) from None
    return tree, comments


def _pos(file: str | None, line: int, col: int, end_line: int | None = None,
         end_col: int | None = None) -> Span:
    return Span(file=file, line=line, col=col, end_line=end_line or line,
                end_col=end_col if end_col is not None else col + 1)


def _end_of(item: object) -> tuple[int, int] | None:
    """(line, col) just after a token or a tree on the parser's value stack."""
    from lark import Token, Tree

    if isinstance(item, Token) and item.end_line is not None:
        return item.end_line, item.end_column
    if isinstance(item, Tree) and not item.meta.empty:
        return item.meta.end_line, item.meta.end_column
    return None


def _unclosed(stack: list[object]) -> object | None:
    """The innermost opening bracket token on the value stack that has no closer after it."""
    from lark import Token

    pending: list[str] = []
    for item in reversed(stack):
        if not isinstance(item, Token):
            continue
        if item.type in _CLOSERS:
            pending.append(item.type)
        elif item.type in _OPENERS:
            closer = _OPENERS[item.type][1]
            if pending and pending[-1] == closer:
                pending.pop()
            else:
                return item
    return None


@lru_cache(maxsize=1)
def _signatures() -> dict[tuple[int, str | None], tuple[str, str]]:
    """(LALR state, token type) -> (message, hint) of the known mistakes, computed once."""
    from lark.exceptions import UnexpectedToken

    sigs: dict[tuple[int, str | None], tuple[str, str]] = {}
    with collecting_comments():  # the examples' comments go nowhere
        for label, examples in _EXAMPLES.items():
            for text in examples:
                try:
                    parser().parse(text, start="start")
                except UnexpectedToken as ex:
                    pos = ex.state.position if ex.state is not None else -1
                    sigs.setdefault((pos, ex.token.type), label)
                    sigs.setdefault((pos, None), label)
                except Exception:  # noqa: BLE001  (an example failing differently teaches nothing)
                    continue
    return sigs


def _known_mistake(e: UnexpectedToken) -> tuple[str, str] | None:
    """The (message, hint) of a known mistake failing in the same parser state as `e`.

    This is lark's `match_examples` idea, keyed on the LALR state alone: lark compares whole
    state stacks, whose depth grows with every item before the error, so its matching only
    works for mistakes at the top of a file.
    """
    if e.state is None:
        return None
    sigs = _signatures()
    pos = e.state.position
    return sigs.get((pos, e.token.type)) or sigs.get((pos, None))


def _is_name(item: object) -> bool:
    from lark import Token

    return isinstance(item, Token) and item.type == "NAME"


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "NAME":
        return f"name `{tok}`"
    if tok.type == "NUMBER":
        return f"number `{tok}`"
    if tok.type == "STRING":
        return f"string {tok}"
    if tok.value.isalpha():
        return f"keyword `{tok}`"
    return f"`{tok}`"


def _describe_expected(expected: set[str]) -> str:
    p = parser()
    words: list[str] = []
    if _EXPR_START <= expected:
        words.append("an expression")
        expected = expected - _EXPR_START
    for name in sorted(expected):
        if name in _READABLE:
            words.append(_READABLE[name])
            continue
        try:
            pat = p.get_terminal(name).pattern
            words.append(f"`{pat.value}`" if pat.type == "str" else name.lower())
        except KeyError:
            words.append(name.lower())
    if len(words) > 6:
        words = words[:6] + ["..."]
    return ", ".join(words)


def _keyword_as_name(tok: Any, stack: list[Any], text: str) -> Any:
    """The reserved word a failed parse tripped on when it was meant as a name (`after = ...`,
    `keep = ...` for a node, param or network entry), else None.

    Either the failing token is the keyword and `=` follows it, or the failing token is that `=`
    and the keyword was accepted just before it (as the start of a `keep N` clause).
    """
    def followed_by_equal(t: Any) -> bool:
        rest = text[t.end_pos:].lstrip(" \t") if t.end_pos is not None else ""
        return rest.startswith("=") and not rest.startswith("==")

    if str(tok.type) in _RESERVED_TYPES and followed_by_equal(tok):
        return tok
    prev = stack[-1] if stack else None
    if tok.type == "EQUAL" and prev is not None and str(getattr(prev, "type", "")) in _RESERVED_TYPES:
        return prev
    return None


def syntax_error(e: UnexpectedInput, text: str, file: str | None) -> ParseError:
    """Turn a lark error into a `ParseError` pointing at the mistake, with a hint."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if 0 <= e.pos_in_stream < len(text) else ""
        shown = f"`{ch}`" if ch.isprintable() and ch.strip() else repr(ch)
        hint = "the `:=` of other languages is `=` in nasc" if ch == ":" else None
        if ch in "'\"":
            hint = "strings end on the line they start on"
        return ParseError(f"unexpected character {shown}", _pos(file, e.line, e.column), hint)
    if not isinstance(e, UnexpectedToken):
        line, col = getattr(e, "line", 1) or 1, getattr(e, "column", 1) or 1
        return ParseError("unexpected end of file", _pos(file, line, col))

    tok = e.token
    expected: set[str] = set(e.accepts or e.expected or ())
    stack = list(e.interactive_parser.parser_state.value_stack) if e.interactive_parser else []
    prev_end = _end_of(stack[-1]) if stack else None
    at_eof = tok.type == "$END"
    if at_eof:
        lines = text.split("\n")
        if len(lines) > 1 and lines[-1] == "":
            lines.pop()
        tok_pos = _pos(file, len(lines), len(lines[-1]) + 1)
    else:
        tok_pos = _pos(file, tok.line, tok.column, tok.end_line, tok.end_column)

    misused = _keyword_as_name(tok, stack, text)
    if misused is not None:
        where = _pos(file, misused.line, misused.column, misused.end_line, misused.end_column)
        return ParseError(f"`{misused}` is a reserved word of nasc and cannot be a name", where,
                          f"rename it (for example `{misused}_`); reserved: "
                          + ", ".join(f"`{w}`" for w in RESERVED))

    label = _known_mistake(e)
    if label is not None:
        prev: Any = stack[-1] if stack else None
        if label[0].endswith("after the node name") and _is_name(prev) and prev.line < tok.line:
            # `n0 = op s0`: `s0` was taken for the start of the next node
            where = _pos(file, prev.line, prev.column, prev.end_line, prev.end_column)
            return ParseError(f"missing `=` after `{prev}`", where,
                              f"an edge reads its state in parentheses: `op({prev})`")
        return ParseError(label[0], tok_pos, label[1])

    opener: Any = _unclosed(stack)
    if opener is not None:
        sym, closer = _OPENERS[opener.type]
        moved_on = at_eof or (prev_end is not None and tok.line > prev_end[0]) or tok.type in _CLOSERS
        if closer in expected and tok.type != closer and moved_on:
            where = _pos(file, *prev_end) if prev_end else tok_pos
            close_sym = {"RPAR": ")", "RSQB": "]", "RBRACE": "}"}[closer]
            return ParseError(f"missing `{close_sym}`", where,
                              f"to close the `{sym}` at line {opener.line}, column {opener.column}")
    if at_eof:
        return ParseError("unexpected end of file", tok_pos, f"expected {_describe_expected(expected)}")
    if tok.type == "NAME" and {"CELL", "NETWORK", "PARAM"} <= expected:
        hint = did_you_mean(str(tok), KEYWORDS) or (
            "a file holds `import`, `param`, `op`, `choice`, `cell` and `network` definitions")
        return ParseError(f"unknown keyword `{tok}`", tok_pos, hint)
    if "EQUAL" in expected and len(expected) <= 3:
        return ParseError(f"expected `=` before {_describe_token(tok)}", tok_pos)
    return ParseError(f"unexpected {_describe_token(tok)}", tok_pos,
                      f"expected {_describe_expected(expected)}")
