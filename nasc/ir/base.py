"""The base of every IR node: frozen, closed (`extra="forbid"`), with an optional source span.

Spans do not take part in equality or hashing, so `parse(print(ir)) == ir` holds although the
printed text has other positions; they are not serialised either (YAML/JSON carry no positions).
Frozen goes all the way down: sequences are tuples and mappings `nasc.frozen.FrozenDict`s, and
`model_copy(update=...)` freezes the dicts and lists it is given, so no IR value can change in
place and every node can be hashed.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from nasc.frozen import freeze
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
        return hash((type(self).__name__, self._key()))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with `update` applied; dicts and lists in `update` are frozen (pydantic does not
        validate `update`, and a mutable value would make the copy mutable and unhashable)."""
        frozen = {k: freeze(v) for k, v in update.items()} if update else None
        return super().model_copy(update=frozen, deep=deep)
