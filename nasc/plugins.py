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

from dataclasses import dataclass
from importlib import metadata
from typing import Any

from nasc.errors import ConfigError

GROUPS = ("nasc.ops", "nasc.passes", "nasc.searches", "nasc.datasets")


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
