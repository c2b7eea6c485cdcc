"""The base of every IR node: frozen, closed (`extra="forbid"`), with an optional source span.

Spans do not take part in equality or hashing, so `parse(print(ir)) == ir` holds although the
printed text has other positions; they are not serialised either (YAML/JSON carry no positions).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nasc.source import Span


class IRNode(BaseModel):
    """Frozen pydantic base for IR nodes; `span` is where the node came from in the user's file."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    span: Span | None = Field(default=None, exclude=True, repr=False)

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in type(self).model_fields if f != "span")

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, _freeze(self._key())))


def _freeze(v: Any) -> Any:
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    return v
