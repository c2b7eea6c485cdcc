"""The YAML/JSON form of the IR: plain versioned data, never Python-object tags.

    to_data(model)         -> dict (`Model.model_dump(mode="json")` without default-valued fields
                              and without the ops that came from imports)
    to_yaml / to_json      -> text of that dict
    from_data(data, path)  -> Model (checks `ir_version`, validates; imports are not resolved)
    json_schema()          -> the JSON Schema of the YAML form (for editors)

Expressions are scalars (`3`, `true`, `"C * 3"`, `[1, 7]`). The `kind` of an edge op or an op-body
statement may be left out: a mapping with `candidates` is a choice, one with `cond` an `if`, any
other an op call. `self_contained=True` also writes the imported ops (their `module` says which
import they came from) so that loading reads no library files. The IR reads no files: the front
ends bring in the ops of `imports` after `from_data` (`nasc.frontend.imports.resolve_model_imports`).

Validation errors become `ValidationError`s carrying the dotted key path (`cells[0].nodes[1]`) and,
when the front end passes the YAML line marks, the span of the offending key.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nasc.errors import Diagnostics, NascError, ParseError, ValidationError, did_you_mean
from nasc.ir.model import IR_VERSION, LOCAL_MODULE, Model
from nasc.source import Span

_TAGS = {"op", "choice", "if", "lit", "ref", "bin", "neg", "tuple"}


def to_data(model: Model, self_contained: bool = False) -> dict[str, Any]:
    """The plain-data form of `model` (what `to_yaml`/`to_json` write)."""
    if not self_contained:
        model = model.model_copy(update={"ops": tuple(d for d in model.ops if d.module == LOCAL_MODULE)})
    data = model.model_dump(mode="json", exclude_defaults=True)
    out: dict[str, Any] = {"ir_version": model.ir_version}
    out.update(data)
    for cell in out.get("cells", []):
        for node in cell.get("nodes", []):
            for edge in node.get("edges", []):
                op = edge.get("op", {})
                op.setdefault("kind", "choice" if "candidates" in op else "op")
                edge["op"] = {"kind": op.pop("kind"), **op}
    for d in out.get("ops", []):
        _kinds(d.get("body", []))
    return out


def _kinds(body: list[Any]) -> None:
    """Put the `kind` of each op-body statement first (exclude_defaults dropped it)."""
    for i, s in enumerate(body):
        if isinstance(s, dict):
            kind = s.pop("kind", "if" if "cond" in s else "op")
            body[i] = {"kind": kind, **s}
            _kinds(body[i].get("then", []))
            _kinds(body[i].get("orelse", []))


def to_yaml(model: Model, self_contained: bool = False) -> str:
    """YAML text of `model` (block style, keys in IR order)."""
    import yaml

    return yaml.safe_dump(to_data(model, self_contained), sort_keys=False, default_flow_style=None,
                          width=100, allow_unicode=True)


def to_json(model: Model, self_contained: bool = False) -> str:
    """JSON text of `model` (indented)."""
    return json.dumps(to_data(model, self_contained), indent=2) + "\n"


# ---- loading -----------------------------------------------------------------------------------

def _normalize_kinds(data: Any) -> None:
    """Fill in the `kind` of edge ops and op-body statements written without it."""
    if not isinstance(data, dict):
        return
    for cell in _list(data.get("cells")):
        for node in _list(cell.get("nodes") if isinstance(cell, dict) else None):
            for edge in _list(node.get("edges") if isinstance(node, dict) else None):
                op = edge.get("op") if isinstance(edge, dict) else None
                if isinstance(op, dict) and "kind" not in op:
                    op["kind"] = "choice" if "candidates" in op else "op"
    for d in _list(data.get("ops")):
        if isinstance(d, dict):
            _normalize_body(d.get("body"))


def _normalize_body(body: Any) -> None:
    for s in _list(body):
        if isinstance(s, dict):
            if "kind" not in s:
                s["kind"] = "if" if "cond" in s else "op"
            _normalize_body(s.get("then"))
            _normalize_body(s.get("orelse"))


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], bool]:
    """Follow a pydantic error location through `data`: (the path that exists, whether it is all
    of `loc`). Union tags and validator names in `loc` are skipped."""
    path: list[Any] = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and isinstance(part, str) and part in _TAGS and cur.get("kind") == part:
            continue  # the tag pydantic inserts for the member of a discriminated union
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
            path.append(part)
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
            path.append(part)
        elif isinstance(part, str) and ("[" in part or part in _TAGS):
            continue  # a validator or union member name, not a key
        else:
            path.append(part)
            return tuple(path), False
    return tuple(path), True


def _field_names() -> list[str]:
    from nasc.ir import model as m

    names: set[str] = set()
    for cls in (m.Model, m.Layout, m.Cell, m.CellInput, m.Node, m.Edge, m.OpCall, m.Choice, m.OpDef,
                m.OpParam, m.IfStmt, m.Param, m.Head, m.AuxHead):
        names.update(f for f in cls.model_fields if f != "span")
    return sorted(names)


def locate_mark(marks: Mapping[tuple[Any, ...], Span] | None, path: tuple[Any, ...]) -> Span | None:
    """The mark of the deepest prefix of `path` that has one."""
    if not marks:
        return None
    for n in range(len(path), -1, -1):
        if path[:n] in marks:
            return marks[path[:n]]
    return None


def _translate(exc: Any, data: Any, marks: Mapping[tuple[Any, ...], Span] | None) -> list[NascError]:
    """pydantic errors -> `ValidationError`s with the YAML location and the dotted key path."""
    out: list[NascError] = []
    seen: set[tuple[Any, ...]] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        path, complete = _data_path(data, loc)
        typ = err.get("type", "")
        if typ == "missing":
            parent = path[:-1] if path else path
            name = path[-1] if path else (loc[-1] if loc else "?")
            key = _dotted(parent)
            msg, hint = f"`{key}` is missing the key `{name}`", None
            span = locate_mark(marks, parent)
            path = parent + (name,)
        elif typ == "extra_forbidden":
            name = path[-1] if path else "?"
            msg = f"unknown key `{name}` in `{_dotted(path[:-1])}`"
            hint = did_you_mean(str(name), _field_names())
            span = locate_mark(marks, path)
        else:
            text = str(err.get("msg", "invalid value"))
            if text.startswith("Value error, "):
                text = text[len("Value error, "):]
            ctx = err.get("ctx") or {}
            inner = ctx.get("error")
            if isinstance(inner, NascError):
                text = inner.message
            msg, hint = f"`{_dotted(path)}`: {text}", getattr(inner, "hint", None)
            span = locate_mark(marks, path)
            if isinstance(inner, ParseError):  # an expression scalar the grammar cannot read
                if path not in seen:
                    seen.add(path)
                    out.append(ParseError(msg, span, hint, key=_dotted(path)))
                continue
        if path in seen:  # a union reports one problem once per member; keep the first
            continue
        seen.add(path)
        out.append(ValidationError(msg, span, hint, key=_dotted(path)))
    return out


def from_data(data: Any, path: str | None = None,
              marks: Mapping[tuple[Any, ...], Span] | None = None) -> Model:
    """Validate plain data (the YAML/JSON form) into a `Model` (the ops of its imports are not
    added: that is the front end's job, see `nasc.frontend.imports.resolve_model_imports`).

    `marks` maps key paths (`("cells", 0, "nodes")`) to their YAML spans, for error positions.
    """
    import pydantic

    where = Span(file=path, line=1, col=1) if path else None
    if not isinstance(data, dict):
        raise ParseError(f"expected a mapping of model keys, got {type(data).__name__}", where,
                         "a model file starts with `ir_version: 1` and `name: ...`")
    version = data.get("ir_version", IR_VERSION)
    if version != IR_VERSION or isinstance(version, bool):
        raise ValidationError(f"ir_version {version!r} is not supported (this nasc reads ir_version {IR_VERSION})",
                              locate_mark(marks, ("ir_version",)) or where,
                              "re-export the model with a matching nasc, or convert it by hand",
                              key="ir_version")
    _normalize_kinds(data)
    try:
        model = Model.model_validate(data)
    except pydantic.ValidationError as e:
        raise Diagnostics(_translate(e, data, marks)) from None
    except RecursionError:
        raise ParseError("model data nested too deeply", where) from None
    return model


def json_schema() -> dict[str, Any]:
    """JSON Schema of the YAML/JSON form (spans removed; `kind` optional, inferred on load)."""
    schema = Model.model_json_schema()

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                props.pop("span", None)
            node.pop("discriminator", None)
            for v in node.values():
                strip(v)
        elif isinstance(node, list):
            for v in node:
                strip(v)
        return node

    schema = strip(schema)
    schema.get("$defs", {}).pop("Span", None)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://nasc.dev/schema/ir-v{IR_VERSION}.json",
            "title": "nasc model (ir_version %d)" % IR_VERSION, **{k: v for k, v in schema.items() if k != "title"}}
