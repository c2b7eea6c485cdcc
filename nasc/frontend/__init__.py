"""Front ends: the .nas language (lark) and YAML/JSON, both producing the same IR.

    parse_source(text, path)         text -> Model (syntax, imports; chosen by file extension)
    load_model(path, overrides)      file -> verified Model with `--set` param overrides applied
    load_library(path)               an op library (imports and ops only, like std.nas) -> verified ops
    parse_overrides(["C=16"])        command-line `NAME=VALUE` items -> {"C": 16}

Errors are `NascError`s with spans; several found together are raised as one `Diagnostics`.
Any input, however malformed, raises nothing else (deep nesting included).
"""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from nasc.errors import ConfigError, Diagnostics, NascError, ParseError, did_you_mean
from nasc.ir.model import Model, OpDef, Param
from nasc.source import Span

NAS_SUFFIXES = (".nas",)
YAML_SUFFIXES = (".yaml", ".yml", ".json")

__all__ = ["apply_overrides", "is_library", "load_library", "load_model", "parse_overrides", "parse_source",
           "read_text"]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a source is parsed and checked: parsing makes
    hundreds of thousands of small acyclic objects, and the collector's passes over the growing
    heap made a source of tens of thousands of items take worse than linear time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def parse_source(text: str, path: str | Path | None) -> Model:
    """Parse a source text (by the extension of `path`: .nas, .yaml/.yml, .json) and resolve its
    imports. The result is not verified; `load_model` does that."""
    with _gc_paused():
        return _parse_source(text, path)


def _parse_source(text: str, path: str | Path | None) -> Model:
    file = str(path) if path is not None else None
    suffix = Path(file).suffix.lower() if file else ".nas"
    try:
        if suffix in YAML_SUFFIXES:
            from nasc.frontend.yaml import parse_yaml

            return parse_yaml(text, file)
        if suffix not in NAS_SUFFIXES:
            raise ParseError(f"unknown source type `{suffix or file}`",
                             hint="nasc reads .nas, .yaml, .yml and .json files")
        from nasc.frontend.dsl import build_model, read_source
        from nasc.frontend.imports import resolve_imports

        src = read_source(text, file)
        imported = resolve_imports([(i.name, i.span) for i in src.imports], file)
        return build_model(src, imported)
    except RecursionError:
        raise ParseError("input nested too deeply", Span(file=file, line=1, col=1),
                         "simplify deeply nested expressions or YAML structures") from None


def read_text(path: str | Path) -> str:
    """Read a source file as text: missing, unreadable, binary or non-UTF-8 files raise `NascError`."""
    from nasc.frontend.imports import read_source_text

    return read_source_text(Path(path))


def parse_overrides(items: Iterable[str]) -> dict[str, object]:
    """`["C=16", "lr=0.1", "affine=false", "name='x'"]` -> `{"C": 16, "lr": 0.1, ...}`.

    Each item is `NAME=VALUE` with the value typed by YAML's rules (`nasc.overrides`); a later
    item for the same name wins. Malformed items raise `ConfigError` naming `--set`.
    """
    from nasc.overrides import parse_overrides as parse_key_values

    return dict(parse_key_values(items, flag="--set", dotted=False))


def _type_name(v: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(type(v), type(v).__name__)


def apply_overrides(model: Model, overrides: Mapping[str, object] | None) -> Model:
    """`model` with param defaults replaced by `overrides`; unknown names and values of the wrong
    type raise `ConfigError` (all of them together as `Diagnostics`)."""
    if not overrides:
        return model
    by_name = {p.name: p for p in model.params}
    errors: list[NascError] = []
    new: dict[str, Param] = {}
    for name, value in overrides.items():
        p = by_name.get(name)
        if p is None:
            hint = did_you_mean(name, by_name) or (
                "params: " + ", ".join(by_name) if by_name else "the model declares no params")
            errors.append(ConfigError(f"unknown param `{name}`", key=f"--set {name}", hint=hint))
            continue
        d = p.default
        ok: object = None
        if isinstance(d, bool):
            ok = value if isinstance(value, bool) else None
        elif isinstance(d, int):
            ok = value if isinstance(value, int) and not isinstance(value, bool) else None
        elif isinstance(d, float):
            ok = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        else:
            ok = value if isinstance(value, str) else None
        if ok is None:
            example = str(d).lower() if isinstance(d, bool) else d
            errors.append(ConfigError(f"param `{name}` is {_type_name(d)} (default {d!r}); got {value!r}",
                                      key=f"--set {name}", hint=f"e.g. `--set {name}={example}`"))
            continue
        new[name] = p.model_copy(update={"default": ok})
    if errors:
        raise Diagnostics(errors)
    params = tuple(new.get(p.name, p) for p in model.params)
    return model.model_copy(update={"params": params})


def load_model(path: str | Path, overrides: Mapping[str, object] | None = None) -> Model:
    """Read, parse, resolve imports, apply param overrides and verify the model in `path`.

    Raises `NascError` (usually `Diagnostics` holding every problem found) on bad input.
    """
    from nasc.ir.verify import verify
    from nasc.ops.registry import primitive_table

    text = read_text(path)
    model = parse_source(text, str(path))
    model = apply_overrides(model, overrides)
    try:
        with _gc_paused():
            errors = verify(model, primitive_table())
    except RecursionError:  # a hand-made IR deeper than the front ends accept
        raise ParseError("model nested too deeply", Span(file=str(path), line=1, col=1)) from None
    if errors:
        raise Diagnostics(errors)
    return model


def is_library(text: str, path: str | Path) -> bool:
    """Whether .nas `text` is an op library: ops (and imports) only. Raises `ParseError` on bad syntax."""
    if Path(str(path)).suffix.lower() not in NAS_SUFFIXES:
        return False
    from nasc.frontend.dsl import read_source

    src = read_source(text, str(path))
    return bool(src.ops) and not (src.networks or src.cells or src.params or src.choices)


def load_library(path: str | Path) -> tuple[OpDef, ...]:
    """Read an op library, resolve its imports and verify its ops (names, arguments, recursion).

    Returns the imported ops followed by the library's own; errors raise `Diagnostics`.
    """
    from nasc.frontend.dsl import library_ops, read_source
    from nasc.frontend.imports import resolve_imports
    from nasc.ir.expr import Lit
    from nasc.ir.model import LOCAL_MODULE, Head, Layout, OpCall
    from nasc.ir.verify import verify
    from nasc.ops.registry import primitive_table

    file = str(path)
    src = read_source(read_text(file), file)
    imported = resolve_imports([(i.name, i.span) for i in src.imports], file)
    ops = imported + library_ops(src, LOCAL_MODULE)
    one = Lit(value=1)
    stub = Model(name=Path(file).stem, imports=tuple(i.name for i in src.imports), ops=ops,
                 input=(one, one, one), classes=one, stems=(), cells=(), layout=Layout(cells=one, channels=one),
                 head=Head(op=OpCall(op="identity")))
    errors = verify(stub, primitive_table(), network=False)
    if errors:
        raise Diagnostics(errors)
    return ops
