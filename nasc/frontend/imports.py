"""Import resolution: `import std` and `import "rel/path.nas"` -> the imported op definitions.

`std` (any bare name) is looked up in the standard library directory (`nasc.resources.stdlib_dir`),
then beside the importing file; a quoted path is relative to the importing file. Imported ops get
`module=<import name>`; a library's own imports come first, in order, and every library file
is included once however many files import it. Parsed libraries are kept in a small LRU cache
(keyed by resolved path, size and modification time, so an edited file is read again), so a search
that loads many models parses `std.nas` once. Missing files and import cycles are errors pointing
at the `import` line.

`resolve_model_imports(model, path)` is the step the YAML/JSON front end runs after
`nasc.ir.serde.from_data`: the IR itself never reads files.
"""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from nasc.errors import Diagnostics, NameResolutionError, NascError, ParseError, did_you_mean
from nasc.ir.model import Model, OpDef
from nasc.ir.serde import locate_mark
from nasc.limits import MAX_SOURCE_BYTES, read_file_bytes
from nasc.resources import stdlib_dir
from nasc.source import Span

LIBRARY_CACHE_SIZE = 64  # parsed library files kept (a search reloads the same few many times)


def _probe(p: Path) -> str | None:
    """None when `p` is a regular file (or a link to one); else why it cannot be imported:
    "missing", or what it is instead (a directory, a device, a symlink loop, an OS error)."""
    try:
        mode = os.stat(p).st_mode  # follows links; never opens, so a FIFO cannot block
    except FileNotFoundError:
        return "missing"
    except OSError as e:  # a symlink loop, a name too long, a parent not searchable
        return ("a symlink loop" if e.errno == errno.ELOOP else e.strerror or str(e))
    except ValueError:  # a NUL byte in the name
        return "missing"
    return None if stat.S_ISREG(mode) else ("a directory" if stat.S_ISDIR(mode) else "not a regular file "
                                            "(a device, FIFO or socket)")


def import_path(name: str, importer: str | None, span: Span | None = None) -> Path | None:
    """Where `import name` in file `importer` points, or None when no such file exists.

    A path that exists but cannot be a source (a directory, a device, a FIFO, a symlink loop)
    raises `ParseError` at `span`, rather than reading it."""
    base = Path(importer).parent if importer else Path(".")
    if name.endswith(".nas") or "/" in name or "\\" in name:
        cands = [base / name]
    else:
        cands = [stdlib_dir() / f"{name}.nas", base / f"{name}.nas"]
    for cand in cands:
        why = _probe(cand)
        if why is None:
            return cand
        if why != "missing":
            raise ParseError(f"cannot import `{name}`: {cand} is {why}" if why.startswith(("a ", "not "))
                             else f"cannot import `{name}`: {cand}: {why}", span,
                             "an import names a .nas source file")
    return None


def _stdlib_names() -> list[str]:
    try:
        return sorted(p.stem for p in stdlib_dir().glob("*.nas"))
    except OSError:
        return []


def read_source_text(path: Path, span: Span | None = None) -> str:
    """The text of a source file; missing, unreadable, special (directory, device, FIFO),
    oversized, binary or non-UTF-8 files raise a `NascError` (at `span`, else at the file)."""
    try:
        data = read_file_bytes(path, max_bytes=MAX_SOURCE_BYTES, what="source file", error=ParseError,
                               span=span, key=None if span else str(path),
                               hint="nasc reads .nas, .yaml, .yml and .json text files")
    except FileNotFoundError:
        raise NameResolutionError(f"file not found: {path}", span) from None
    return decode_source(data, str(path))


def decode_source(data: bytes, file: str) -> str:
    """Decode source bytes as UTF-8 (a BOM is allowed); binary data and bad bytes raise `ParseError`."""
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise ParseError("this is a binary file, not nasc source", Span(file=file, line=line, col=1),
                         "nasc reads .nas, .yaml, .yml and .json text files")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line = before.count(b"\n") + 1
        col = e.start - (before.rfind(b"\n") + 1) + 1
        raise ParseError(f"invalid UTF-8 byte 0x{data[e.start]:02x}", Span(file=file, line=line, col=col),
                         "save the file as UTF-8") from None


@dataclass
class _Frame:
    """One library being resolved: its imports still to visit, the ops they gave, its own ops."""

    file: str | None
    pending: Iterator[tuple[str, Span | None]]
    key: str | None = None
    own: tuple[OpDef, ...] = ()
    out: list[OpDef] = field(default_factory=list)


def resolve_imports(imports: Sequence[tuple[str, Span | None]], importer: str | None,
                    _stack: tuple[str, ...] = (), _done: set[str] | None = None) -> tuple[OpDef, ...]:
    """The ops brought in by `imports` (name, span of the import) of the file `importer`.

    Each library file contributes its ops once, the first time it is reached (depth first, in
    import order: a library's own imports before its ops), however many files import it. Every
    problem (missing file, cycle, errors inside a library) is collected into `Diagnostics`.
    The walk keeps its own stack, so a chain of any length of libraries each importing the
    next never exhausts Python's recursion limit.
    """
    chain = list(_stack or ((os.path.abspath(importer),) if importer else ()))  # for cycles
    on_chain = set(chain)
    done: set[str] = set() if _done is None else _done
    errors: list[NascError] = []
    frames = [_Frame(importer, iter(imports))]
    result: list[OpDef] = []
    while frames:
        frame = frames[-1]
        item = next(frame.pending, None)
        if item is None:  # this library is complete: its imports' ops, then its own
            frames.pop()
            ops = frame.out + list(frame.own)
            if frame.key is not None:
                on_chain.discard(chain.pop())
            (frames[-1].out if frames else result).extend(ops)
            continue
        name, span = item
        try:
            path = import_path(name, frame.file, span)
        except NascError as e:
            errors.append(e)
            continue
        if path is None:
            quoted = name.endswith(".nas") or "/" in name
            where = Path(frame.file).parent if frame.file else "the current directory"
            hint = (f"the path is relative to {where}" if quoted else did_you_mean(name, _stdlib_names())
                    or f"standard libraries: {', '.join(_stdlib_names())}")
            errors.append(NameResolutionError(f"cannot find import `{name}`", span, hint))
            continue
        key = os.path.abspath(path)
        if key in on_chain:
            cycle = " -> ".join(Path(p).name for p in (*chain[chain.index(key):], key))
            errors.append(NameResolutionError(f"import cycle: {cycle}", span,
                                              "move the shared ops into a library both files import"))
            continue
        if key in done:
            continue
        done.add(key)
        try:
            nested, own = _read_library(path, name, span)
        except Diagnostics as d:
            errors.extend(d.errors)
            continue
        except NascError as e:
            errors.append(e)
            continue
        chain.append(key)
        on_chain.add(key)
        frames.append(_Frame(str(path), iter(nested), key, own))
    if errors:
        raise Diagnostics(errors)
    return tuple(result)


def _read_library(path: Path, module: str, span: Span | None
                  ) -> tuple[tuple[tuple[str, Span | None], ...], tuple[OpDef, ...]]:
    """(the imports, the own ops) of one library file, from the cache when unchanged."""
    try:
        st = path.stat()
    except OSError as e:
        raise ParseError(f"cannot read {path}: {e.strerror or e}", span) from None
    try:
        return _parse_library(os.path.realpath(path), str(path), module, st.st_size, st.st_mtime_ns)
    except NascError as e:
        if e.span is None:  # the file itself cannot be read: point at the `import`
            e.span = span
        raise


@lru_cache(maxsize=LIBRARY_CACHE_SIZE)
def _parse_library(real: str, path: str, module: str, size: int,
                   mtime_ns: int) -> tuple[tuple[tuple[str, Span | None], ...], tuple[OpDef, ...]]:
    """(the library's imports, its own ops) of the file at `path`; cached by every argument, so
    a file that changed size or modification time is parsed again. Errors are not cached."""
    from nasc.frontend.dsl import library_ops, read_source

    text = read_source_text(Path(path))
    src = read_source(text, path)
    return tuple((i.name, i.span) for i in src.imports), library_ops(src, module)


def resolve_model_imports(model: Model, path: str | None,
                          marks: Mapping[tuple[Any, ...], Span] | None = None) -> Model:
    """`model` with the ops of its imports prepended, unless the model already holds them (a
    self-contained file: every import name appears as the `module` of some op).

    `marks` (YAML key path -> span) locates each `imports` item for error messages.
    """
    present = {d.module for d in model.ops}
    wanted = [(name, locate_mark(marks, ("imports", i))) for i, name in enumerate(model.imports)
              if name not in present]
    if not wanted:
        return model
    imported = resolve_imports(wanted, path)
    return model.model_copy(update={"ops": imported + model.ops})
