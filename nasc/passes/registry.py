"""The pass registry: each pass is a pure function `Model -> Model` plus an adapter class whose
pydantic fields are the pass's options, registered under a name with `@register_pass("name")`.

The adapter validates its options once (a bad option is a `ConfigError` naming `passes.<name>.<key>`)
and reports whether the pass changed the IR (IR equality ignores spans, so a pass that rebuilds an
identical model reports no change).
"""
from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

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
T = TypeVar("T", bound=type[CompilerPass])


def register_pass(name: str) -> Callable[[T], T]:
    """Class decorator registering a pass adapter under `name` (e.g. `"aux-towers"`)."""

    def deco(cls: T) -> T:
        if name in _PASSES:
            raise ValueError(f"pass {name!r} registered twice")
        cls.name = name
        _PASSES[name] = cls
        return cls

    return deco


def _ensure_loaded() -> None:
    import nasc.passes.builtin  # noqa: F401  (registers the built-in passes)


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
