"""The pass registry: each pass is a pure function `Model -> Model` plus an adapter class whose
pydantic fields are the pass's options; the class's `name` is the pass name. The built-in passes are
listed in `nasc.passes.builtin.BUILTIN_PASSES`; plugins add theirs by the `nasc.passes` entry point.

The adapter validates its options once (a bad option is a `ConfigError` naming `passes.<name>.<key>`)
and reports whether the pass changed the IR (IR equality ignores spans, so a pass that rebuilds an
identical model reports no change).
"""
from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from nasc.errors import ConfigError, PassError, did_you_mean
from nasc.ir.model import Model


@dataclass(frozen=True)
class PassResult:
    """What one pass did: the new model and whether it differs from the input."""

    name: str
    model: Model
    changed: bool


class CompilerPass(BaseModel):
    """Base of pass adapters: the fields are the pass options; `run` applies the pure function."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    @abstractmethod
    def run(self, model: Model) -> Model:
        """Apply the pass to `model` and return the new model (the input is not modified)."""

    def apply(self, model: Model) -> PassResult:
        """Run the pass and report whether it changed anything."""
        new = self.run(model)
        return PassResult(self.name, new, new != model)


_PASSES: dict[str, type[CompilerPass]] = {}
_ORIGIN: dict[str, str] = {}  # name -> "built-in" or the plugin's distribution
_loaded = False


def register_pass(cls: type[CompilerPass], origin: str = "built-in") -> None:
    """Add a pass adapter class under its `name` (a name may be registered once)."""
    if not (isinstance(cls, type) and issubclass(cls, CompilerPass)):
        raise ConfigError(f"`{cls!r}` ({origin}) is not a CompilerPass subclass", key="nasc.passes",
                          hint="an `nasc.passes` entry point must name a CompilerPass subclass")
    if not cls.name:
        raise ConfigError(f"pass class `{cls.__name__}` ({origin}) has no `name`", key="nasc.passes")
    if cls.name in _PASSES:
        raise ConfigError(f"pass `{cls.name}` ({origin}) is already defined ({_ORIGIN[cls.name]})",
                          key="nasc.passes", hint="rename the plugin's pass")
    _PASSES[cls.name] = cls
    _ORIGIN[cls.name] = origin


def _ensure_loaded() -> None:
    """Register the built-in passes (`nasc.passes.builtin`), then the plugins' (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from nasc.passes.builtin import BUILTIN_PASSES
    from nasc.plugins import entry_points_of

    for cls in BUILTIN_PASSES:
        register_pass(cls)
    for ep in entry_points_of("nasc.passes"):
        cls = ep.load()
        if getattr(cls, "name", None) != ep.name:
            raise ConfigError(f"plugin pass `{ep.name}` ({ep.distribution}): its class says "
                              f"name = {getattr(cls, 'name', None)!r}", key=f"nasc.passes:{ep.name}",
                              hint="the entry point's name and the class's `name` must agree")
        register_pass(cls, ep.distribution or "unknown")


def pass_origins() -> dict[str, str]:
    """Where each pass comes from: "built-in" or a plugin's distribution name."""
    _ensure_loaded()
    return dict(_ORIGIN)


def pass_names() -> list[str]:
    """Names of all registered passes, sorted."""
    _ensure_loaded()
    return sorted(_PASSES)


def get_pass(name: str) -> type[CompilerPass]:
    """The adapter class of pass `name`; unknown names raise `PassError` with a did-you-mean hint."""
    _ensure_loaded()
    try:
        return _PASSES[name]
    except KeyError:
        hint = did_you_mean(name, _PASSES) or f"known passes: {', '.join(sorted(_PASSES))}"
        raise PassError(f"unknown pass `{name}`", hint=hint) from None


def make_pass(name: str, options: Mapping[str, Any] | None = None) -> CompilerPass:
    """Instantiate pass `name` with `options`; invalid options raise `ConfigError` naming the key."""
    cls = get_pass(name)
    try:
        return cls(**dict(options or {}))
    except PydanticValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        key = f"passes.{name}.{loc}" if loc else f"passes.{name}"
        fields = ", ".join(cls.model_fields) or "none"
        raise ConfigError(f"bad option for pass `{name}`: {err['msg']}", key=key,
                          hint=f"options of `{name}`: {fields}") from None
