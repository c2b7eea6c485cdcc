"""The one YAML reader of nasc: safe, bounded, and it remembers where every key was written.

Usage:
    from nasc.yamlio import load_yaml, YamlLimits
    data, pos = load_yaml(text, "cfg.yaml")              # plain dicts/lists/scalars, positions
    pos[("trainer", "epochs")]                           # Span of the key `epochs` (file:line:col)
    pos[("optimizer", "betas", 1)]                       # Span of the second list item
    pos.node(("trainer",))                               # Span of the value (the whole mapping)
    pos.locate(("trainer", "epochs", "x"))               # nearest ancestor that has a position
    load_yaml(text, f, error=ConfigError, limits=YamlLimits(max_chars=10_000))

What it guarantees (every refusal is an `error` - `ParseError` by default - with a file:line:col
span and a hint):
- Safe loading: nodes are composed with `yaml.SafeLoader` and turned into plain data by hand;
  only the standard scalar tags construct, so no Python object is ever built (`!!python/...`,
  `!!set`, `!!omap` and unknown tags are refused at the tag).
- Bounded: the text (`max_chars`), each scalar (`max_scalar_chars`), nesting depth (`max_depth`,
  refused while composing, before Python's recursion limit is near) and the number of nodes the
  document expands to once aliases are followed (`max_nodes`). The expansion is measured by
  counting, on the composed node graph with one memoised pass, not by walking the expansion or by
  a timer: a billion-laughs document (wide or chained aliases) and a recursive alias (`&a [*a]`)
  are refused in milliseconds, at the alias that crosses the limit.
- Duplicate keys in one mapping are refused at the second key (the hint gives the first's line).
- Merge keys (`<<: *base`, `<<: [*a, *b]`) work as in PyYAML: explicit keys win over merged ones,
  and earlier mappings of a merge list win over later ones.
- Positions: `Positions` maps a key path (`("cells", 0, "nodes")`: mapping keys and list indices)
  to the span of that key (or list item); `node(path)` gives the span of the value itself. Alias
  copies point at the anchored text they were copied from.

This module is in the base layer: it imports only PyYAML and `nasc.errors` / `nasc.source`.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from nasc.errors import NascError, ParseError
from nasc.source import Span

KeyPath = tuple[Any, ...]
_Pos = tuple[int, int, int, int]  # line, col, end line, end col (1-based)

_STD = "tag:yaml.org,2002:"
_MAP, _SEQ, _MERGE, _VALUE = _STD + "map", _STD + "seq", _STD + "merge", _STD + "value"
_SCALAR_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null", "timestamp", "binary")}


@dataclass(frozen=True)
class YamlLimits:
    """Bounds on one document. The defaults fit any model or config file by orders of magnitude."""

    max_chars: int = 4 * 1024 * 1024
    max_scalar_chars: int = 1024 * 1024
    max_depth: int = 200
    max_nodes: int = 200_000


DEFAULT_LIMITS = YamlLimits()


class Positions(Mapping[KeyPath, Span]):
    """Key path -> `Span` of that mapping key or list item; `node(path)` -> span of its value.

    Stored as plain tuples (one per YAML node, most never looked at) and handed out as spans.
    """

    def __init__(self, file: str | None) -> None:
        self.file = file
        self._keys: dict[KeyPath, _Pos] = {}
        self._nodes: dict[KeyPath, _Pos] = {}

    def _span(self, pos: _Pos) -> Span:
        line, col, end_line, end_col = pos
        return Span(file=self.file, line=line, col=col, end_line=end_line, end_col=end_col)

    def __getitem__(self, path: KeyPath) -> Span:
        return self._span(self._keys[tuple(path)])

    def __contains__(self, path: object) -> bool:
        return isinstance(path, tuple) and path in self._keys

    def __iter__(self) -> Iterator[KeyPath]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def node(self, path: KeyPath) -> Span | None:
        """The span of the value at `path` (a whole mapping, list or scalar), if known."""
        pos = self._nodes.get(tuple(path))
        return self._span(pos) if pos is not None else None

    def locate(self, path: KeyPath) -> Span | None:
        """The span of `path`, or of its nearest ancestor that has one (None when none has)."""
        for n in range(len(path), -1, -1):
            if tuple(path[:n]) in self._keys:
                return self[tuple(path[:n])]
        return None


def _pos(start: Any, end: Any) -> _Pos:
    return (start.line + 1, start.column + 1, end.line + 1, end.column + 1)


class _Refused(Exception):
    """A guard fired: message, where (a PyYAML mark, or None for the start), hint."""

    def __init__(self, message: str, mark: Any, hint: str) -> None:
        super().__init__(message)
        self.message, self.mark, self.hint = message, mark, hint


class _Loader(yaml.SafeLoader):
    """SafeLoader that bounds nesting while composing and remembers where each alias was used."""

    def __init__(self, text: str, limits: YamlLimits) -> None:
        super().__init__(text)
        self._limits = limits
        self._depth = 0
        # (id(parent node), slot) -> (start, end) marks of an alias used there; a slot is
        # ("item", i), ("key", i) or ("value", i) - the node graph itself forgets aliases
        self.aliases: dict[tuple[int, tuple[str, int]], tuple[Any, Any]] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: D102 - PyYAML hook
        if self.check_event(yaml.AliasEvent):
            if parent is not None:
                event = self.peek_event()
                self.aliases[(id(parent), _slot(parent, index))] = (event.start_mark, event.end_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > self._limits.max_depth:
                raise _Refused(f"YAML nested deeper than {self._limits.max_depth} levels",
                               self.peek_event().start_mark, "flatten the structure")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _slot(parent: Any, index: Any) -> tuple[str, int]:
    """Where the node being composed goes in `parent` (PyYAML appends pairs after both halves)."""
    n = len(parent.value)
    if isinstance(parent, yaml.SequenceNode):
        return ("item", n)
    return ("key", n) if index is None else ("value", n)


def _children(node: Any) -> list[tuple[tuple[str, int], Any]]:
    if isinstance(node, yaml.SequenceNode):
        return [(("item", i), c) for i, c in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        out = []
        for i, (k, v) in enumerate(node.value):
            out += [(("key", i), k), (("value", i), v)]
        return out
    return []


def check_size(text: str, file: str | None, *, limits: YamlLimits = DEFAULT_LIMITS,
               error: type[NascError] = ParseError) -> None:
    """Refuse a text longer than `limits.max_chars` (for readers that parse it otherwise, e.g. JSON)."""
    if len(text) > limits.max_chars:
        raise error(f"the file is too large ({len(text)} characters; at most {limits.max_chars})",
                    Span(file=file, line=1, col=1), "nasc reads model and config files, not data")


def load_yaml(text: str, file: str | None = None, *, limits: YamlLimits = DEFAULT_LIMITS,
              error: type[NascError] = ParseError) -> tuple[Any, Positions]:
    """YAML (or JSON) text -> (plain data, positions). An empty document gives `None`.

    Every refusal raises `error(message, span, hint)`; see the module docstring for the guards.
    """
    check_size(text, file, limits=limits, error=error)
    start = Span(file=file, line=1, col=1)
    try:
        loader = _Loader(text, limits)
    except yaml.reader.ReaderError as e:  # a control character the YAML reader refuses
        before = text[: e.position]
        where = Span(file=file, line=before.count("\n") + 1,
                     col=e.position - (before.rfind("\n") + 1) + 1)
        what = repr(e.character) if isinstance(e.character, str) else f"U+{e.character:04X}"
        raise error(f"YAML: character {what} is not allowed", where,
                    "remove the control character (or quote it as an escape in a \"...\" string)") from None
    try:
        return _Reader(loader, file, limits, error).read()
    except _Refused as r:
        span = start if r.mark is None else Span(file=file, line=r.mark.line + 1, col=r.mark.column + 1)
        raise error(r.message, span, r.hint) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        span = start if mark is None else Span(file=file, line=mark.line + 1, col=mark.column + 1)
        raise error(f"YAML: {e.problem or e.context or 'syntax error'}", span,
                    "check the indentation, brackets and quotes around this position") from None
    except yaml.YAMLError as e:
        raise error(f"YAML: {e}", start, "check the YAML syntax") from None
    except RecursionError:  # only if the caller's own stack was already deep
        raise error("YAML nested too deeply", start, "flatten the structure") from None
    finally:
        loader.dispose()


class _Reader:
    """Turns the composed node graph into plain data and positions, under the limits."""

    def __init__(self, loader: _Loader, file: str | None, limits: YamlLimits,
                 error: type[NascError]) -> None:
        self.loader = loader
        self.file = file
        self.limits = limits
        self.error = error
        self.positions = Positions(file)
        self.memo: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, height)

    def read(self) -> tuple[Any, Positions]:
        """Compose, measure, then build the data (see `load_yaml`)."""
        root = self.loader.get_single_node()
        if root is None:
            return None, self.positions
        self._measure(root)
        size, height = self.memo[id(root)]
        if height > self.limits.max_depth:
            raise _Refused(f"YAML nested deeper than {self.limits.max_depth} levels once aliases "
                           "are expanded", self._deepest(root), "aliases of nested structures nest "
                           "them further; flatten the structure or use fewer aliases")
        if size > self.limits.max_nodes:
            hint = ("each alias (`*name`) copies its whole anchored subtree; aliases of aliases "
                    "multiply") if self.loader.aliases else "split the document"
            raise _Refused(f"the YAML expands to more than {self.limits.max_nodes} nodes"
                           + (" (aliases?)" if self.loader.aliases else ""), self._crossing(root), hint)
        self.positions._keys[()] = self.positions._nodes[()] = _pos(root.start_mark, root.end_mark)
        return self._walk(root, ()), self.positions

    # ---------------------------------------------------------------- measuring the expansion

    def _alias_at(self, parent: Any, slot: tuple[str, int]) -> Any:
        marks = self.loader.aliases.get((id(parent), slot))
        return marks[0] if marks is not None else None

    def _measure(self, root: Any) -> None:
        """Expanded size and height of every node: one iterative, memoised post-order pass over
        the node graph (shared by aliases), so its cost is that of the text, not of the expansion."""
        cap = self.limits.max_nodes + 1
        memo = self.memo
        active = {id(root)}
        stack = [(root, iter(_children(root)))]
        while stack:
            node, todo = stack[-1]
            for slot, child in todo:
                if id(child) in memo:
                    continue
                if id(child) in active:
                    raise _Refused("recursive YAML alias (a structure that contains itself)",
                                   self._alias_at(node, slot) or child.start_mark,
                                   "an alias may only refer to an anchor whose value is complete")
                if isinstance(child, yaml.ScalarNode):
                    memo[id(child)] = (1, 1)
                    continue
                active.add(id(child))
                stack.append((child, iter(_children(child))))
                break
            else:
                stack.pop()
                active.discard(id(node))
                kids = [memo[id(c)] for _, c in _children(node)]
                memo[id(node)] = (min(cap, 1 + sum(s for s, _ in kids)),
                                  1 + max((h for _, h in kids), default=0))

    def _crossing(self, root: Any) -> Any:
        """The mark of the node (preferably the alias) at which the expansion crosses `max_nodes`."""
        remaining = self.limits.max_nodes - 1
        node = root
        while True:
            for slot, child in _children(node):
                size = self.memo[id(child)][0]
                if size <= remaining:
                    remaining -= size
                    continue
                alias = self._alias_at(node, slot)
                if alias is not None or isinstance(child, yaml.ScalarNode):
                    return alias or child.start_mark
                node, remaining = child, remaining - 1
                break
            else:
                return node.start_mark

    def _deepest(self, root: Any) -> Any:
        """The mark of the last alias on the deepest path (else of the node too deep)."""
        node, depth, last_alias = root, 1, None
        while True:
            kids = _children(node)
            if not kids:
                return last_alias or node.start_mark
            slot, child = max(kids, key=lambda sc: self.memo[id(sc[1])][1])
            last_alias = self._alias_at(node, slot) or last_alias
            node, depth = child, depth + 1
            if depth > self.limits.max_depth:
                return last_alias or node.start_mark

    # ---------------------------------------------------------------- building the data

    def _scalar(self, node: Any) -> Any:
        if len(node.value) > self.limits.max_scalar_chars:
            raise _Refused(f"YAML value longer than {self.limits.max_scalar_chars} characters",
                           node.start_mark, "nasc files hold settings, not data")
        if node.tag in (_VALUE, _MERGE):  # YAML 1.1 `=` and `<<` outside a key's place: text
            return node.value
        if node.tag not in _SCALAR_TAGS:
            raise _Refused(f"YAML tag `{node.tag}` is not allowed", node.start_mark,
                           "only plain YAML values are allowed (no Python tags)")
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as e:
            raise _Refused(f"YAML: {getattr(e, 'problem', None) or e}", node.start_mark,
                           "only plain YAML values are allowed (no Python tags)") from None
        except (ValueError, OverflowError) as e:
            raise _Refused(f"YAML: cannot read value: {e}", node.start_mark,
                           "quote the value to keep it as text") from None

    def _key(self, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            key = self._scalar(node)
            if key is not None:
                return key
        raise _Refused("YAML mapping keys must be plain names", node.start_mark,
                       "write `name: value`; a key cannot be null, a list or a mapping")

    def _pairs(self, node: Any, seen: set[int] | None = None) -> list[tuple[Any, Any, Any]]:
        """(key, key node, value node) of a mapping with its merges, in PyYAML's order (merged
        pairs first, then explicit ones; later pairs win). Duplicate explicit keys are refused."""
        explicit: list[tuple[Any, Any, Any]] = []
        merged: list[tuple[Any, Any, Any]] = []
        first: dict[Any, Any] = {}
        for i, (key_node, value_node) in enumerate(node.value):
            if key_node.tag == _MERGE and isinstance(key_node, yaml.ScalarNode):
                if isinstance(value_node, yaml.SequenceNode):
                    sources = [(value_node, ("item", j), src) for j, src in enumerate(value_node.value)]
                else:
                    sources = [(node, ("value", i), value_node)]
                chunks = []
                outer = self._alias_at(node, ("value", i))  # `<<: *list`: point at the alias
                for parent, slot, src in sources:
                    if not isinstance(src, yaml.MappingNode) or src.tag != _MAP:
                        raise _Refused("a merge key `<<` takes a mapping or a list of mappings",
                                       self._alias_at(parent, slot) or outer or src.start_mark,
                                       "write `<<: *base` or `<<: [*a, *b]`")
                    chunks.append(self._pairs(src))
                for chunk in reversed(chunks):  # earlier mappings of the list win
                    merged += chunk
                continue
            key = self._key(key_node)
            if key in first:
                raise _Refused(f"duplicate key `{key}`", key_node.start_mark,
                               f"first given at line {first[key].start_mark.line + 1}; "
                               "remove one of them")
            first[key] = key_node
            explicit.append((key, key_node, value_node))
        return merged + explicit

    def _walk(self, node: Any, path: KeyPath) -> Any:
        """Plain data for `node` at `path` (depth is bounded by `max_depth`, checked above)."""
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if node.tag not in (_MAP, _SEQ):
            raise _Refused(f"YAML tag `{node.tag}` is not allowed", node.start_mark,
                           "only plain mappings, lists and scalars are allowed")
        keys, nodes = self.positions._keys, self.positions._nodes
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, child in enumerate(node.value):
                sub = (*path, i)
                keys[sub] = nodes[sub] = _pos(child.start_mark, child.end_mark)
                items.append(self._walk(child, sub))
            return items
        winners: dict[Any, tuple[Any, Any]] = {}
        for key, key_node, value_node in self._pairs(node):
            winners[key] = (key_node, value_node)  # dict order: first insertion, last value
        out: dict[Any, Any] = {}
        for key, (key_node, value_node) in winners.items():
            sub = (*path, key)
            keys[sub] = _pos(key_node.start_mark, key_node.end_mark)
            nodes[sub] = _pos(value_node.start_mark, value_node.end_mark)
            out[key] = self._walk(value_node, sub)
        return out
