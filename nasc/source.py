"""Source text and positions: `Source` holds a file's text, `Span` a range in it (1-based line/col).

Spans travel on IR nodes so that an error found late (shape inference, a pass) still points into the
user's file. Rendering a span with a caret lives in the CLI (`nasc.cli.render`).
"""
from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict


class Span(BaseModel):
    """A range in a source file. Lines and columns are 1-based; `end_*` is exclusive-ish (last char + 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str | None = None
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None

    def __str__(self) -> str:
        return f"{self.file or '<input>'}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Source:
    """The text of one input file, kept so diagnostics can quote the offending line."""

    path: str
    text: str

    def line_text(self, line: int) -> str:
        """Return line `line` (1-based) without its newline, or '' when out of range."""
        lines = self.text.splitlines()
        return lines[line - 1] if 1 <= line <= len(lines) else ""
