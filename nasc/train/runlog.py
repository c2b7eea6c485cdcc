"""A hierarchical, machine-readable run log, written append-only as JSON lines.

Usage:
    from nasc.train.runlog import StructuredLog, read_log
    log = StructuredLog(run_dir / "log.jsonl")
    log.add("device", "cpu")                       # scalars overwrite
    log.add({"torch": "2.3", "threads": 1})        # a mapping adds each key
    with log.section("epochs"):                    # begin_sec("epochs") ... end_sec()
        with log.section(0):
            log.add("train", {"loss": 1.2})         # a mapping merges into an existing mapping
            log.add("losses", [1.3])
            log.add("losses", 1.2)                 # an existing list gets the value appended
    log.add(("epochs", 0, "time"), 3.5)            # a tuple path is relative to the current section
    log.append("resumes", 120)                     # append to a list, creating it if needed
    tree = read_log(run_dir / "log.jsonl")         # {"device": "cpu", ..., "epochs": {0: {...}}}

Semantics (Archai's structured logger): the log is a tree of mappings. `add(key, value)` under
the current section overwrites a scalar, appends to a list, and deep-merges a mapping into a
mapping. `add(value=v)` without a key uses the section's counter: the next integer key not yet taken.

Each call appends one JSON object (`{"op": "add" | "begin", "path": [...], "value": ...}`) and
flushes it, so a killed run leaves a valid prefix; `read_log` replays the events (ignoring a torn
last line). Keys keep their type (`int` epoch numbers stay ints). Tensors and numpy scalars are
stored as numbers or lists.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Key = str | int


def to_plain(value: Any) -> Any:
    """`value` as JSON-compatible Python data (tensors -> numbers/lists, tuples -> lists)."""
    if isinstance(value, Mapping):
        return {k if isinstance(k, (str, int)) else str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    tolist = getattr(value, "tolist", None)  # torch tensors, numpy arrays and scalars
    if callable(tolist):
        return to_plain(tolist())
    return str(value)


def _encode_key(key: Key) -> list[Any]:
    # JSON objects only have string keys, so paths are lists that keep ints as ints
    return [key, "i"] if isinstance(key, int) else [key, "s"]


def apply_add(tree: dict[Any, Any], path: list[Key], value: Any) -> None:
    """Apply one `add` to `tree`: overwrite scalars, append to lists, merge mappings."""
    node = tree
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    key = path[-1]
    current = node.get(key)
    if isinstance(current, list):
        current.append(value)
    elif isinstance(current, dict) and isinstance(value, dict):
        for k, v in value.items():
            apply_add(current, [k], v)
    else:
        node[key] = value


class StructuredLog:
    """The writer: an in-memory tree plus an append-only JSONL file (None: memory only)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        # a resumed run continues the tree its file describes, so that appends and merges
        # mean the same in memory as when the file is replayed
        self.tree: dict[Any, Any] = (read_log(self.path) if self.path is not None
                                     and self.path.exists() else {})
        self._stack: list[Key] = []
        self._counters: dict[tuple[Key, ...], int] = {}
        self._file = open(self.path, "a", encoding="utf-8") if self.path is not None else None

    def _write(self, op: str, path: list[Key], value: Any = None) -> None:
        if self._file is None:
            return
        record = {"op": op, "path": [_encode_key(k) for k in path], "t": round(time.time(), 3)}
        if op == "add":
            record["value"] = value
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()

    def _resolve(self, key: Key | tuple[Key, ...] | None) -> list[Key]:
        base = tuple(self._stack)
        if key is None:  # the next integer key not taken in this section
            node: Any = self.tree
            for k in base:
                node = node.get(k, {}) if isinstance(node, dict) else {}
            n = self._counters.get(base, 0)
            while isinstance(node, dict) and n in node:
                n += 1
            self._counters[base] = n + 1
            return [*base, n]
        parts = list(key) if isinstance(key, tuple) else [key]
        return [*base, *parts]

    def add(self, key: Key | tuple[Key, ...] | Mapping[Any, Any] | None = None,
            value: Any = None) -> None:
        """Add `value` at `key` (relative to the current section); a mapping adds each item."""
        if isinstance(key, Mapping):
            for k, v in key.items():
                self.add(k, v)
            return
        path = self._resolve(key)
        plain = to_plain(value)
        apply_add(self.tree, path, plain)
        self._write("add", path, plain)

    def append(self, key: Key | tuple[Key, ...], value: Any) -> None:
        """Append `value` to the list at `key`, creating the list if there is none."""
        path = self._resolve(key)
        node: Any = self.tree
        for k in path:
            node = node.get(k) if isinstance(node, dict) else None
        self.add(key, value if isinstance(node, list) else [value])

    def begin_sec(self, key: Key | None = None) -> None:
        """Enter the child section `key` (a mapping, created if missing)."""
        path = self._resolve(key)
        node = self.tree
        for k in path:
            child = node.get(k)
            if not isinstance(child, dict):
                child = node[k] = {}
            node = child
        self._stack = path
        self._write("begin", path)

    def end_sec(self) -> None:
        """Leave the current section."""
        if not self._stack:
            raise RuntimeError("end_sec() without begin_sec()")
        self._stack = self._stack[:-1]

    @contextmanager
    def section(self, key: Key | None = None) -> Iterator[None]:
        """`begin_sec(key)` ... `end_sec()` as a context manager."""
        depth = len(self._stack)
        self.begin_sec(key)
        try:
            yield
        finally:
            self._stack = self._stack[:depth]

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


def read_log(path: str | Path) -> dict[Any, Any]:
    """Rebuild the tree from a JSONL log (a torn last line, from a killed run, is ignored)."""
    tree: dict[Any, Any] = {}
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise
        keys = [int(k) if kind == "i" else k for k, kind in record["path"]]
        if record["op"] == "add":
            apply_add(tree, keys, record["value"])
        elif record["op"] == "begin":
            node = tree
            for k in keys:
                child = node.get(k)
                if not isinstance(child, dict):
                    child = node[k] = {}
                node = child
    return tree
