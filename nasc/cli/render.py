"""Rendering of nasc errors for the terminal (the only place that formats them for people).

    examples/space.nas:12:7: name error: unknown op `sep_conv_3x33` in cell `normal`
       12 |   n0 = sep_conv_3x33(s0) + skip_connect(s1)
          |        ^~~~~~~~~~~~~~~~~
    hint: did you mean `sep_conv_3x3`?

Source lines are read from disk by `span.file` (cached). A `Diagnostics` renders every error it
holds followed by `N errors`. Errors without a span but with a config key render as `key: ...`.
"""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from nasc.errors import Diagnostics, NascError
from nasc.limits import is_regular_file

if TYPE_CHECKING:
    import typer


@lru_cache(maxsize=64)
def _lines(file: str) -> tuple[str, ...] | None:
    if not is_regular_file(file):  # a device or FIFO named in an error: never read (or block on) it
        return None
    try:
        with open(file, "rb") as fh:
            data = fh.read(4_000_000)
    except OSError:
        return None
    # split on "\n" only: spans count lines the way the parsers do
    return tuple(ln.rstrip("\r") for ln in data.decode("utf-8", errors="replace").split("\n"))


def source_line(file: str | None, line: int) -> str | None:
    """Line `line` (1-based) of `file`, or None when the file or the line cannot be read."""
    if not file:
        return None
    lines = _lines(file)
    if lines is None or not 1 <= line <= len(lines):
        return None
    return lines[line - 1]


def clear_cache() -> None:
    """Forget cached file contents (after `nasc fmt` rewrote a file, in tests)."""
    _lines.cache_clear()


_SHOWN = 160  # characters of a source line quoted under an error


def _one(err: NascError) -> str:
    span = err.span
    kind = getattr(err, "kind", "error")
    if span is not None:
        head = f"{span.file or '<input>'}:{span.line}:{span.col}: {kind}: {err.message}"
    elif err.key:
        head = f"{err.key}: {kind}: {err.message}"
    else:
        head = f"{kind}: {err.message}"
    out = [head]
    if span is not None:
        text = source_line(span.file, span.line)
        if text is not None:
            text = text.expandtabs(1).rstrip("\n")
            start = max(span.col - 1, 0)
            if len(text) > _SHOWN:  # a huge line (minified JSON, a fuzzed file): a window at the caret
                lo = max(0, min(start - 40, len(text) - _SHOWN))
                text = ("..." if lo else "") + text[lo:lo + _SHOWN] + ("..." if lo + _SHOWN < len(text) else "")
                start = start - lo + (3 if lo else 0)
            gutter = f"{span.line:>5} | "
            out.append(gutter + text)
            if span.end_line == span.line and span.end_col is not None and span.end_col > span.col:
                width = span.end_col - span.col
            else:
                width = max(len(text) - start, 1)  # a multi-line span: underline to the end of the line
            width = max(1, min(width, max(len(text) - start, 1)))
            out.append(" " * 5 + " | " + " " * start + "^" + "~" * (width - 1))
    if err.hint:
        out.append(f"hint: {err.hint}")
    return "\n".join(out)


def render_error(err: NascError) -> str:
    """`file:line:col: kind: message`, the source line, a caret under the span, the hint; for
    `Diagnostics` every error and then `N errors`."""
    if isinstance(err, Diagnostics):
        errs = err.errors
        parts = [_one(e) for e in errs]
        n = len(errs)
        parts.append(f"{n} error{'s' if n != 1 else ''}")
        return "\n".join(parts)
    return _one(err)


def fail(err: NascError) -> typer.Exit:
    """Print a rendered library error to stderr and return the exit (code 1) for the caller to raise."""
    import typer

    typer.echo(render_error(err), err=True)
    return typer.Exit(code=1)
