"""The registry of primitive ops.

A primitive declares a pydantic params model, its arity, a pure `infer_shape`, exact cost
functions (`param_count`, `macs`) and `build` (the only place torch is touched, imported lazily).
Composite ops are not here: they are written in nasc (`stdlib_ops/*.nas`) and expanded by
`nasc.analysis.elaborate`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from nasc.errors import NameResolutionError, did_you_mean
from nasc.plugins import Registry

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
    # the exact cost formulas of `param_count` and `macs`, as `nasc ops` shows them
    cost: ClassVar[str] = "params 0, MACs 0"

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


def _builtin_primitives() -> tuple[type[Primitive], ...]:
    from nasc.ops.primitives import BUILTIN_PRIMITIVES

    return BUILTIN_PRIMITIVES


# one instance per primitive: the built-ins of `nasc.ops.primitives`, then `nasc.ops` plugins
REGISTRY: Registry[Primitive] = Registry("primitive", "nasc.ops", Primitive, _builtin_primitives,
                                         lambda cls: cls())


def register_primitive(cls: type[Primitive], origin: str = "built-in") -> None:
    """Add a primitive class under `cls.name`; a name may be registered once."""
    REGISTRY.table()  # the built-ins first, so a clash names the one already there
    REGISTRY.register(cls, origin)


def get_primitive(name: str) -> Primitive:
    """The primitive named `name`; unknown names raise with a did-you-mean hint."""
    table = REGISTRY.table()
    try:
        return table[name]
    except KeyError:
        raise NameResolutionError(f"unknown primitive `{name}`", hint=did_you_mean(name, table)) from None


def is_primitive(name: str) -> bool:
    """Whether `name` is a registered primitive."""
    return name in REGISTRY.table()


def primitive_names() -> list[str]:
    """All registered primitive names, sorted."""
    return sorted(REGISTRY.table())


def primitive_table() -> Mapping[str, Primitive]:
    """A read-only view of the registered primitives by name (what `ir.verify` checks against)."""
    return REGISTRY.table()


def primitive_origins() -> dict[str, str]:
    """Where each primitive comes from: "built-in" or a plugin's distribution name."""
    return REGISTRY.origins()
