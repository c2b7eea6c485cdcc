"""The YAML/JSON front end: text -> plain data with line marks -> IR (through `nasc.ir.serde`).

The text is read by `nasc.yamlio.load_yaml` (safe tags only, guarded against alias bombs, deep
nesting, huge input and duplicate keys), which records the line and column of every mapping key
and sequence item. Validation errors (pydantic's included) then point at the YAML line:col of
the offending key, and IR nodes built from a mapping carry its span, so `verify` and shape
inference report positions in the YAML file too.

Malformed input raises `ParseError`: YAML syntax errors, duplicate keys, recursive aliases,
alias bombs, deep nesting.
"""
from __future__ import annotations

from typing import Any

from nasc.errors import ParseError
from nasc.ir.model import Model
from nasc.source import Span
from nasc.yamlio import Positions, check_size, load_yaml


def load_with_marks(text: str, file: str | None) -> tuple[Any, Positions]:
    """YAML (or JSON) text -> (plain data, {key path: span of the key or item}).

    Reading is `nasc.yamlio.load_yaml` (safe tags, alias/depth/size guards, duplicate keys);
    here mappings that become IR nodes get a `span` entry (not those under `args`, whose keys
    are op arguments).
    """
    data, marks = load_yaml(text, file)
    if data is None:
        raise ParseError("the file is empty", Span(file=file, line=1, col=1),
                         "a model file starts with `ir_version: 1` and `name: ...`")
    _add_spans(data, (), marks)
    return data, marks


def _add_spans(data: Any, path: tuple[Any, ...], marks: Positions) -> None:
    """Put the YAML span of every mapping (but `args`) under its `span` key; depth is bounded
    by the loader's `max_depth`."""
    if isinstance(data, list):
        for i, item in enumerate(data):
            _add_spans(item, (*path, i), marks)
    elif isinstance(data, dict):
        for key, value in data.items():
            _add_spans(value, (*path, key), marks)
        where = marks.node(path)
        if where is not None and (not path or path[-1] != "args"):
            data["span"] = where.model_dump()


def parse_yaml(text: str, file: str | None) -> Model:
    """YAML/JSON text -> `Model` (imports resolved; not verified). Errors carry YAML positions."""
    from nasc.ir.serde import from_data

    json_data: Any = None
    is_json = file is not None and file.lower().endswith(".json")
    if is_json:
        import json

        check_size(text, file)
        try:
            json_data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ParseError(f"JSON: {e.msg}", Span(file=file, line=e.lineno, col=e.colno)) from None
        except RecursionError:
            raise ParseError("JSON nested too deeply", Span(file=file, line=1, col=1)) from None
    try:
        data, marks = load_with_marks(text, file)
    except ParseError:
        if not is_json:
            raise
        data, marks = json_data, Positions(file)  # valid JSON that YAML 1.1 reads differently: no positions
    except RecursionError:
        raise ParseError("YAML nested too deeply", Span(file=file, line=1, col=1)) from None
    from nasc.frontend.imports import resolve_model_imports

    return resolve_model_imports(from_data(data, file, marks), file, marks)
