"""Immutable containers for frozen data: `FrozenDict` and `freeze`.

pydantic's `frozen=True` only forbids rebinding a field; a `dict` or `list` field can still be
changed in place (and a model holding one cannot be hashed reliably). The IR therefore keeps
sequences as tuples and mappings as `FrozenDict`: an immutable, hashable `Mapping` that pydantic
validates from any mapping, serialises as a plain dict (`model_dump`, JSON, YAML) and describes as
an object in JSON Schema.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar, get_args

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(Mapping[K, V], Generic[K, V]):
    """An immutable, hashable mapping that keeps insertion order (equality ignores order, as for
    `dict`, and a `FrozenDict` equals a `dict` with the same items)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        object.__setattr__(self, "_data", dict(*args, **kwargs))
        object.__setattr__(self, "_hash", None)

    def __getitem__(self, key: K) -> V:
        return self._data[key]  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash(frozenset(self._data.items()))
            object.__setattr__(self, "_hash", h)
        return h  # type: ignore[no-any-return]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenDict):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # pickling (Ray, multiprocessing, deepcopy) rebuilds through __init__, not setattr
        return (type(self), (self._data,))

    def __or__(self, other: Mapping[K, V]) -> FrozenDict[K, V]:
        """A new FrozenDict with the items of `other` added (the `dict | dict` of Python)."""
        if not isinstance(other, Mapping):
            return NotImplemented
        return type(self)({**self._data, **other})

    def to_dict(self) -> dict[K, V]:
        """A plain (mutable) copy."""
        return dict(self._data)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """Validate as `dict[K, V]` (any mapping), then freeze; serialise as a plain dict."""
        args = get_args(source)
        key_t, value_t = args if len(args) == 2 else (Any, Any)
        dict_schema = handler.generate_schema(dict[key_t, value_t])  # type: ignore[valid-type]
        return core_schema.no_info_after_validator_function(
            cls, dict_schema,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v: dict(v), return_schema=dict_schema),
        )


def freeze(value: Any) -> Any:
    """`value` with every dict turned into a `FrozenDict` and every list or set into a tuple or
    frozenset, recursively (other values, pydantic models included, are returned as they are)."""
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, tuple):
        items = tuple(freeze(v) for v in value)
        # keep the tuple itself (a NamedTuple stays one) unless something inside had to change
        return value if all(a is b for a, b in zip(items, value)) else items
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(freeze(v) for v in value)
    return value
