"""The registry of primitive ops.

A primitive declares a pydantic params model, its arity, a pure `infer_shape`, exact cost
functions (`param_count`, `macs`) and `build` (the only place torch is touched, imported lazily).
Composite ops are not here: they are written in nasc (`stdlib_ops/*.nas`) and expanded by
`nasc.analysis.elaborate`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from nasc.errors import ConfigError, NameResolutionError, did_you_mean

if TYPE_CHECKING:
    from torch import nn

Shape = tuple[int, int, int]  # (C, H, W)


class PrimParams(BaseModel):
    """Base for primitive params models: frozen, unknown args rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Primitive(ABC):
    """A primitive op. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]
    Params: ClassVar[type[PrimParams]]
    arity: ClassVar[int | None] = 1  # None: one or more inputs (sum, concat)
    aliases_input: ClassVar[bool] = False  # True for identity: allocates no new activation
    # params whose default comes from the call context, e.g. {"out": "C_out", "affine": "affine"}
    context_defaults: ClassVar[Mapping[str, str]] = {}

    @abstractmethod
    def infer_shape(self, p: Any, inputs: tuple[Shape, ...]) -> Shape:
        """Output shape for input shapes; raise `ShapeError` (no span: the caller adds it)."""

    def param_count(self, p: Any, inputs: tuple[Shape, ...]) -> int:
        """Exact number of trainable parameters the built module has."""
        return 0

    def macs(self, p: Any, inputs: tuple[Shape, ...], out: Shape) -> int:
        """Multiply-adds of one forward at batch 1, counted as torch.utils.flop_counter counts
        them (conv and linear only: flops / 2), so analytic and measured figures agree."""
        return 0

    @abstractmethod
    def build(self, p: Any, inputs: tuple[Shape, ...]) -> "nn.Module":
        """The torch module; its forward takes `arity` tensors (a variadic op takes *xs)."""


_REGISTRY: dict[str, Primitive] = {}
_ORIGIN: dict[str, str] = {}  # name -> "built-in" or the plugin's distribution
_loaded = False


def register_primitive(cls: type[Primitive], origin: str = "built-in") -> None:
    """Add a primitive class under `cls.name`; a name may be registered once."""
    if not (isinstance(cls, type) and issubclass(cls, Primitive)):
        raise ConfigError(f"`{cls!r}` ({origin}) is not a Primitive subclass", key="nasc.ops",
                          hint="an `nasc.ops` entry point must name a nasc.ops.Primitive subclass")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"primitive class `{cls.__name__}` ({origin}) has no `name`", key="nasc.ops")
    if name in _REGISTRY:
        raise ConfigError(f"primitive `{name}` ({origin}) is already defined ({_ORIGIN[name]})",
                          key="nasc.ops", hint="rename the plugin's primitive")
    _REGISTRY[name] = cls()
    _ORIGIN[name] = origin


def _ensure_loaded() -> None:
    """Register the built-ins, then the plugins' `nasc.ops` entry points (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from nasc.ops.primitives import BUILTIN_PRIMITIVES
    from nasc.plugins import entry_points_of

    for cls in BUILTIN_PRIMITIVES:
        register_primitive(cls)
    for ep in entry_points_of("nasc.ops"):
        cls = ep.load()
        if getattr(cls, "name", None) != ep.name:
            raise ConfigError(f"plugin primitive `{ep.name}` ({ep.distribution}): its class says "
                              f"name = {getattr(cls, 'name', None)!r}", key=f"nasc.ops:{ep.name}",
                              hint="the entry point's name and the class's `name` must agree")
        register_primitive(cls, ep.distribution or "unknown")


def get_primitive(name: str) -> Primitive:
    """The primitive named `name`; unknown names raise with a did-you-mean hint."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NameResolutionError(f"unknown primitive `{name}`", hint=did_you_mean(name, _REGISTRY)) from None


def is_primitive(name: str) -> bool:
    """Whether `name` is a registered primitive."""
    _ensure_loaded()
    return name in _REGISTRY


def primitive_names() -> list[str]:
    """All registered primitive names, sorted."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def primitive_table() -> Mapping[str, Primitive]:
    """A read-only view of the registered primitives by name (what `ir.verify` checks against)."""
    _ensure_loaded()
    return MappingProxyType(_REGISTRY)


def primitive_origins() -> dict[str, str]:
    """Where each primitive comes from: "built-in" or a plugin's distribution name."""
    _ensure_loaded()
    return dict(_ORIGIN)
