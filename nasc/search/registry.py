"""The registry of search algorithms: the built-in ones in one table, plugins by entry point.

    from nasc.search.registry import get_search, search_names
    get_search("darts")          # a `SearchStrategy` instance
    search_names()               # ["darts", "random", ...plugins]

A built-in algorithm is one module plus one line in `BUILTIN_SEARCHES`; a plugin package adds
one with an entry point in the `nasc.searches` group naming its `SearchStrategy` subclass.
Modules are imported only when an algorithm is first asked for (DARTS imports torch).

Every algorithm's config section (`search.<name>`) and the shared `search.executor`,
`search.guards` and `search.cost` sections are registered with the experiment config here, by
`ensure_sections()`, and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass

from nasc.errors import ConfigError, did_you_mean
from nasc.plugins import entry_points_of

# name -> "module:Class" of its strategy
BUILTIN_SEARCHES: dict[str, str] = {
    "darts": "nasc.search.darts_search:DartsSearch",
    "random": "nasc.search.random_search:RandomSearch",
    "petridish": "nasc.search.petridish_search:PetridishSearch",
    "pc-darts": "nasc.search.pcdarts_search:PcDartsSearch",
    "gdas": "nasc.search.gdas_search:GdasSearch",
}


@dataclass(frozen=True)
class SearchEntry:
    """A registered algorithm: its name, where its strategy class is, and who provides it."""

    name: str
    target: str
    origin: str  # "built-in" or the plugin's distribution name


_entries: dict[str, SearchEntry] | None = None
_loaded: dict[str, object] = {}


def entries() -> dict[str, SearchEntry]:
    """Every registered algorithm by name (built-ins first; a plugin cannot replace one)."""
    global _entries
    if _entries is None:
        found = {n: SearchEntry(n, t, "built-in") for n, t in BUILTIN_SEARCHES.items()}
        for ep in entry_points_of("nasc.searches"):
            if ep.name not in found:
                found[ep.name] = SearchEntry(ep.name, ep.target, ep.distribution or "unknown")
        _entries = found
    return _entries


def search_names() -> list[str]:
    """Names of the registered algorithms: built-ins in table order, then plugins by name."""
    return list(entries())


def get_search(name: str):  # -> SearchStrategy (imported lazily: it may import torch)
    """The strategy of algorithm `name`; an unknown name is a `ConfigError` with a hint."""
    from nasc.search.strategy import SearchStrategy

    known = entries()
    if name not in known:
        hint = did_you_mean(name, list(known)) or f"known algorithms: {', '.join(known)}"
        raise ConfigError(f"unknown search algorithm `{name}`", key="search", hint=hint)
    if name not in _loaded:
        entry = known[name]
        module, _, attr = entry.target.partition(":")
        try:
            cls = getattr(__import__(module, fromlist=["_"]), attr)
        except Exception as exc:  # a broken plugin must say which
            raise ConfigError(f"search algorithm `{name}` ({entry.origin}) failed to load: "
                              f"{type(exc).__name__}: {exc}", key="search",
                              hint=f"its entry point is `{entry.target}`") from None
        if not (isinstance(cls, type) and issubclass(cls, SearchStrategy)):
            raise ConfigError(f"search algorithm `{name}` ({entry.origin}): `{entry.target}` is not "
                              "a SearchStrategy subclass", key="search")
        if getattr(cls, "name", None) != name:
            raise ConfigError(f"search algorithm `{name}` ({entry.origin}): its class says "
                              f"name = {getattr(cls, 'name', None)!r}", key="search",
                              hint="the entry point's name and the class's `name` must agree")
        _loaded[name] = cls()
    return _loaded[name]


def ensure_sections() -> None:
    """Register `search.executor` and every algorithm's `search.<name>` config section."""
    from nasc.search.executor import ExecutorSection
    from nasc.train.config import register_section

    register_section("search.executor", ExecutorSection)
    from nasc.search.guards import guard_sections  # collapse guards and cost budget (all methods)

    for key, section in guard_sections().items():
        register_section(key, section)
    for name in entries():
        strategy = get_search(name)
        register_section(f"search.{name.replace('-', '_')}", type(strategy).section)
