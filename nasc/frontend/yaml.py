"""The YAML/JSON front end: text -> plain data with line marks -> IR (through `nasc.ir.serde`).

The text is composed into YAML nodes with `yaml.SafeLoader` (so no Python-object tag is ever
constructed; unknown tags are errors) and turned into plain data by hand, recording the line and
column of every mapping key and sequence item. Validation errors (pydantic's included) then point
at the YAML line:col of the offending key, and IR nodes built from a mapping carry its span, so
`verify` and shape inference report positions in the YAML file too.

Malformed input raises `ParseError`: YAML syntax errors, duplicate keys, recursive aliases,
alias bombs, deep nesting.
"""
from __future__ import annotations

from typing import Any

from nasc.errors import ParseError
from nasc.ir.model import Model
from nasc.source import Span

MAX_NODES = 200_000  # nodes visited while expanding aliases (a billion-laughs guard)
MAX_DEPTH = 200
_STD_TAG = "tag:yaml.org,2002:"
_CONTAINER_TAGS = {_STD_TAG + "map", _STD_TAG + "seq"}


class Marks(dict):  # type: ignore[type-arg]
    """Key path -> position, stored as plain tuples (the walk records one per YAML node, and
    most are never looked at) and handed out as `Span`s."""

    def __init__(self, file: str | None) -> None:
        super().__init__()
        self.file = file

    def __getitem__(self, path: tuple[Any, ...]) -> Span:
        line, col, end_line, end_col = super().__getitem__(path)
        return Span(file=self.file, line=line, col=col, end_line=end_line, end_col=end_col)

    def get(self, path: tuple[Any, ...], default: Any = None) -> Any:  # type: ignore[override]
        return self[path] if path in self else default


def _pos(start: Any, end: Any) -> tuple[int, int, int, int]:
    return (start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def _span(file: str | None, start: Any, end: Any | None = None) -> Span:
    if end is None:
        return Span(file=file, line=start.line + 1, col=start.column + 1)
    return Span(file=file, line=start.line + 1, col=start.column + 1, end_line=end.line + 1,
                end_col=end.column + 1)


def load_with_marks(text: str, file: str | None) -> tuple[Any, Marks]:
    """YAML (or JSON) text -> (plain data, {key path: span of the key or item}).

    Mappings that become IR nodes get a `span` entry (not those under `args`, whose keys are
    op arguments).
    """
    import yaml

    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as e:  # a control character the YAML reader refuses
        before = text[: e.position]
        where = Span(file=file, line=before.count("\n") + 1, col=e.position - (before.rfind("\n") + 1) + 1)
        raise ParseError(f"YAML: character {e.character!r} is not allowed" if isinstance(e.character, str)
                         else f"YAML: character U+{e.character:04X} is not allowed", where) from None
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = _span(file, mark) if mark is not None else Span(file=file, line=1, col=1)
        raise ParseError(f"YAML: {e.problem or e.context or 'syntax error'}", where) from None
    except yaml.YAMLError as e:
        raise ParseError(f"YAML: {e}", Span(file=file, line=1, col=1)) from None
    except RecursionError:
        raise ParseError("YAML nested too deeply", Span(file=file, line=1, col=1)) from None
    if node is None:
        raise ParseError("the file is empty", Span(file=file, line=1, col=1),
                         "a model file starts with `ir_version: 1` and `name: ...`")
    marks = Marks(file)
    marks[()] = _pos(node.start_mark, node.end_mark)
    budget = [0]
    try:
        data = _walk(loader, node, (), marks, file, budget, set())
    finally:
        loader.dispose()
    return data, marks


def _walk(loader: Any, node: Any, path: tuple[Any, ...], marks: Marks,
          file: str | None, budget: list[int], active: set[int]) -> Any:
    """Plain data for one YAML node (iterating children; depth is bounded by MAX_DEPTH)."""
    import yaml

    budget[0] += 1
    if budget[0] > MAX_NODES:
        raise ParseError(f"the YAML expands to more than {MAX_NODES} nodes (aliases?)",
                         _span(file, node.start_mark))
    if len(path) > MAX_DEPTH:
        raise ParseError(f"YAML nested deeper than {MAX_DEPTH} levels", _span(file, node.start_mark))
    if isinstance(node, yaml.ScalarNode):
        try:
            return loader.construct_object(node, deep=True)
        except yaml.YAMLError as e:
            raise ParseError(f"YAML: {getattr(e, 'problem', None) or e}", _span(file, node.start_mark),
                             "only plain YAML values are allowed (no Python tags)") from None
        except (ValueError, OverflowError) as e:
            raise ParseError(f"YAML: cannot read value: {e}", _span(file, node.start_mark)) from None
    if node.tag not in _CONTAINER_TAGS:
        raise ParseError(f"YAML tag `{node.tag}` is not allowed", _span(file, node.start_mark),
                         "only plain mappings, lists and scalars are allowed")
    if id(node) in active:
        raise ParseError("recursive YAML alias", _span(file, node.start_mark))
    active.add(id(node))
    try:
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, child in enumerate(node.value):
                marks[path + (i,)] = _pos(child.start_mark, child.end_mark)
                items.append(_walk(loader, child, path + (i,), marks, file, budget, active))
            return items
        try:
            loader.flatten_mapping(node)  # resolve `<<` merge keys
        except yaml.YAMLError as e:
            raise ParseError(f"YAML: {getattr(e, 'problem', None) or e}", _span(file, node.start_mark)) from None
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _walk(loader, key_node, path, marks, file, budget, active) \
                if isinstance(key_node, yaml.ScalarNode) else None
            if key is None or isinstance(key, (list, dict)):
                raise ParseError("YAML mapping keys must be plain names", _span(file, key_node.start_mark))
            if key in out:
                raise ParseError(f"duplicate key `{key}`", _span(file, key_node.start_mark, key_node.end_mark),
                                 f"first given at line {marks[path + (key,)].line}")
            marks[path + (key,)] = _pos(key_node.start_mark, key_node.end_mark)
            out[key] = _walk(loader, value_node, path + (key,), marks, file, budget, active)
        if not path or path[-1] != "args":
            out["span"] = {"file": file, "line": node.start_mark.line + 1, "col": node.start_mark.column + 1,
                           "end_line": node.end_mark.line + 1, "end_col": node.end_mark.column + 1}
        return out
    finally:
        active.discard(id(node))


def parse_yaml(text: str, file: str | None) -> Model:
    """YAML/JSON text -> `Model` (imports resolved; not verified). Errors carry YAML positions."""
    from nasc.ir.serde import from_data

    json_data: Any = None
    is_json = file is not None and file.lower().endswith(".json")
    if is_json:
        import json

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
        data, marks = json_data, Marks(file)  # valid JSON that YAML 1.1 reads differently: no positions
    except RecursionError:
        raise ParseError("YAML nested too deeply", Span(file=file, line=1, col=1)) from None
    return from_data(data, file, marks)
