"""Plugins: third-party packages that add ops, passes, search algorithms or datasets to nasc.

A plugin package declares Python entry points in one of four groups; each entry point names an
object that nasc registers under the entry point's name:

    [project.entry-points."nasc.ops"]        my_conv = "my_pkg.ops:MyConv"        # a Primitive subclass
    [project.entry-points."nasc.passes"]     my-pass = "my_pkg.passes:MyPass"      # a CompilerPass subclass
    [project.entry-points."nasc.searches"]   evolve  = "my_pkg.search:Evolution"   # a SearchStrategy subclass
    [project.entry-points."nasc.datasets"]   blobs   = "my_pkg.data:load_blobs"    # a dataset loader

Each registry (`nasc.ops.registry`, `nasc.passes.registry`, `nasc.search.registry`,
`nasc.train.datasets`) lists its built-in entries in one visible table and calls
`entry_points_of(GROUP)` once, on first use, to add the plugins'. This module only reads package
metadata; it imports nothing of nasc above the error tree, so every layer may use it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from nasc.errors import ConfigError

GROUPS = ("nasc.ops", "nasc.passes", "nasc.searches", "nasc.datasets")
T = TypeVar("T")


@dataclass(frozen=True)
class PluginEntry:
    """One entry point of a plugin group: its name, target (`module:attr`) and distribution."""

    group: str
    name: str
    target: str
    distribution: str | None

    def load(self) -> Any:
        """Import and return the entry point's object; a broken plugin is a located `ConfigError`."""
        try:
            module, _, attr = self.target.partition(":")
            obj: Any = __import__(module, fromlist=["_"])
            for part in attr.split(".") if attr else ():
                obj = getattr(obj, part)
            return obj
        except Exception as exc:  # a plugin's import error must not look like nasc's own crash
            raise ConfigError(
                f"plugin `{self.name}` ({self.group}) from {self.distribution or 'an unknown package'} "
                f"failed to load: {type(exc).__name__}: {exc}",
                key=f"{self.group}:{self.name}",
                hint=f"fix or uninstall {self.distribution or 'the package'}; its entry point is "
                     f"`{self.target}`") from None


def entry_points_of(group: str) -> list[PluginEntry]:
    """The installed entry points of `group`, sorted by name (stable across runs)."""
    if group not in GROUPS:
        raise ValueError(f"unknown plugin group {group!r}")
    out = []
    for ep in metadata.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        out.append(PluginEntry(group, ep.name, ep.value, dist.name if dist is not None else None))
    return sorted(out, key=lambda e: e.name)


def all_entry_points() -> dict[str, list[PluginEntry]]:
    """Every group's installed entry points (for `nasc plugins`)."""
    return {group: entry_points_of(group) for group in GROUPS}


def load_named(group: str) -> Iterator[tuple[PluginEntry, Any]]:
    """Load each entry point of `group` and yield it with its object, whose `name` attribute must
    equal the entry point's name (what users write and what the object answers to)."""
    for ep in entry_points_of(group):
        obj = ep.load()
        if getattr(obj, "name", None) != ep.name:
            raise ConfigError(f"plugin `{ep.name}` ({ep.group}) from {ep.distribution}: its class "
                              f"says name = {getattr(obj, 'name', None)!r}",
                              key=f"{ep.group}:{ep.name}",
                              hint="the entry point's name and the class's `name` must agree")
        yield ep, obj


class Registry(Generic[T]):
    """Named classes of one kind: the built-ins (listed by `builtins`, read on first use), then the
    plugins of an entry-point `group`. Each class subclasses `base` and carries its `name`;
    `make` turns a class into what the registry hands out (an instance, or the class itself)."""

    def __init__(self, kind: str, group: str, base: type, builtins: Callable[[], Iterable[type]],
                 make: Callable[[type], T]) -> None:
        self.kind, self.group, self.base = kind, group, base
        self._builtins, self._make = builtins, make
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._loaded = False

    def register(self, cls: type, origin: str = "built-in") -> None:
        """Add `cls` under its `name`; a name may be registered once."""
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise ConfigError(f"`{cls!r}` ({origin}) is not a {self.base.__name__} subclass",
                              key=self.group, hint=f"an `{self.group}` entry point must name a "
                                                   f"{self.base.__name__} subclass")
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{self.kind} class `{cls.__name__}` ({origin}) has no `name`",
                              key=self.group)
        if name in self._items:
            raise ConfigError(f"{self.kind} `{name}` ({origin}) is already defined "
                              f"({self._origins[name]})", key=self.group,
                              hint=f"rename the plugin's {self.kind}")
        self._items[name] = self._make(cls)
        self._origins[name] = origin

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for cls in self._builtins():
            self.register(cls)
        for ep, cls in load_named(self.group):
            self.register(cls, ep.distribution or "unknown")

    def table(self) -> Mapping[str, T]:
        """A read-only view of everything registered, by name."""
        self._ensure_loaded()
        return MappingProxyType(self._items)

    def origins(self) -> dict[str, str]:
        """Where each entry comes from: "built-in" or a plugin's distribution name."""
        self._ensure_loaded()
        return dict(self._origins)
