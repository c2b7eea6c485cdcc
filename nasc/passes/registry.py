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
from nasc.plugins import Registry
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


def _builtin_passes() -> tuple[type[CompilerPass], ...]:
    from nasc.passes.builtin import BUILTIN_PASSES

    return BUILTIN_PASSES


# the adapter classes: the built-ins of `nasc.passes.builtin`, then `nasc.passes` plugins
REGISTRY: Registry[type[CompilerPass]] = Registry("pass", "nasc.passes", CompilerPass,
                                                  _builtin_passes, lambda cls: cls)


def register_pass(cls: type[CompilerPass], origin: str = "built-in") -> None:
    """Add a pass adapter class under its `name` (a name may be registered once)."""
    REGISTRY.table()  # the built-ins first, so a clash names the one already there
    REGISTRY.register(cls, origin)


def pass_origins() -> dict[str, str]:
    """Where each pass comes from: "built-in" or a plugin's distribution name."""
    return REGISTRY.origins()


def pass_names() -> list[str]:
    """Names of all registered passes, sorted."""
    return sorted(REGISTRY.table())


def get_pass(name: str) -> type[CompilerPass]:
    """The adapter class of pass `name`; unknown names raise `PassError` with a did-you-mean hint."""
    table = REGISTRY.table()
    try:
        return table[name]
    except KeyError:
        hint = did_you_mean(name, table) or f"known passes: {', '.join(sorted(table))}"
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
