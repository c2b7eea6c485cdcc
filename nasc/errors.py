"""The one error tree of nasc.

Every error the library raises on bad input is a `NascError`. Errors that point into a source file
carry a `Span`; errors about config keys carry the dotted `key`. `Diagnostics` collects many errors
(sorted by position) so `nasc check` reports them all at once. The library never prints: the CLI
renders these with the offending line and a caret (`nasc.cli.render`).
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from nasc.source import Span


class NascError(Exception):
    """Base of every nasc error. `span` points into a source file; `hint` says how to fix it."""

    kind: str = "error"

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None,
                 key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.key = key

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span else (f"{self.key}: " if self.key else "")
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"

    def sort_key(self) -> tuple[str, int, int]:
        """Order errors by file, line, column (errors without a span last)."""
        if self.span is None:
            return ("\uffff", 0, 0)
        return (self.span.file or "", self.span.line, self.span.col)


class ParseError(NascError):
    """The source text is not well-formed (.nas syntax, YAML syntax, undecodable bytes)."""

    kind = "syntax error"


class NameResolutionError(NascError):
    """A name (op, state, cell, param, import) does not exist or is defined twice."""

    kind = "name error"


class ValidationError(NascError):
    """The IR is well-formed but not a valid network (cycles, arity, placement, empty choices)."""

    kind = "invalid model"


class ShapeError(NascError):
    """Shape inference found tensors that do not fit (channels, strides, spatial sizes)."""

    kind = "shape error"


class ConfigError(NascError):
    """An experiment config or a command-line override is wrong (unknown key, bad value)."""

    kind = "config error"


class PassError(NascError):
    """A compiler pass failed or left an invalid IR; the message names the pass and those before it."""

    kind = "pass error"


class ArtifactError(NascError):
    """A compiled model file is truncated, tampered with, or from an incompatible IR version."""

    kind = "artifact error"


class CheckpointError(NascError):
    """A run directory or checkpoint cannot be resumed from."""

    kind = "checkpoint error"


class DataError(NascError):
    """A dataset cannot be read: files missing, truncated, in the wrong format, or unsafe to load."""

    kind = "data error"


class SearchError(NascError):
    """A search could not produce a result (every candidate failed, nothing left to search)."""

    kind = "search error"


class ExportError(NascError):
    """An export (ONNX, graphviz) failed or did not verify."""

    kind = "export error"


class Diagnostics(NascError):
    """Several errors found in one input, sorted by position. Raised when a check collects > 0 errors."""

    kind = "errors"

    def __init__(self, errors: Sequence[NascError]) -> None:
        self.errors: list[NascError] = sorted(errors, key=lambda e: e.sort_key())
        first = self.errors[0] if self.errors else None
        super().__init__(
            f"{len(self.errors)} error(s)" + (f"; first: {first}" if first else ""),
            span=first.span if first else None,
        )


def raise_all(errors: Iterable[NascError]) -> None:
    """Raise one error as is, several as `Diagnostics`; do nothing when there are none."""
    errs = list(errors)
    if len(errs) == 1:
        raise errs[0]
    if errs:
        raise Diagnostics(errs)


SUGGEST_CANDIDATES = 2_000  # names one hint compares against (difflib costs per candidate)
SUGGEST_NAME_CHARS = 100  # longer names get no hint (difflib costs grow with the square)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean `x`?' hint for a misspelt name, or None when nothing is close.

    The work is bounded whatever the input: a huge candidate list is first narrowed to the names
    of about the same length (a close match differs by a few characters), at most
    `SUGGEST_CANDIDATES` of them, and very long names get no hint."""
    if len(name) > SUGGEST_NAME_CHARS:
        return None
    cands = candidates if isinstance(candidates, list) else list(candidates)
    if len(cands) > SUGGEST_CANDIDATES:
        n = len(name)
        cands = [c for c in cands if abs(len(c) - n) <= max(2, n // 3)][:SUGGEST_CANDIDATES]
    close = difflib.get_close_matches(name, cands, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None
