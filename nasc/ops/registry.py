"""The registry of primitive ops.

A primitive declares a pydantic params model, its arity, a pure `infer_shape`, exact cost
functions (`param_count`, `macs`) and `build` (the only place torch is touched, imported lazily).
Composite ops are not here: they are written in nasc (`stdlib_ops/*.nas`) and expanded by
`nasc.analysis.elaborate`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from nasc.errors import NameResolutionError, did_you_mean

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
P = TypeVar("P", bound=type[Primitive])


def primitive(cls: P) -> P:
    """Class decorator registering a primitive under `cls.name`."""
    if cls.name in _REGISTRY:
        raise ValueError(f"primitive {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


def _ensure_loaded() -> None:
    import nasc.ops.primitives  # noqa: F401  (registers the built-in primitives)


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
