"""Shared pieces of the primitive specs: strict param types and the sliding-window size rule.

Params are strict (a float width such as `C / 2` is rejected rather than truncated) so that a
mistake in a `.nas` expression surfaces as an error instead of a silently different network.
"""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, StrictInt

from nasc.errors import ShapeError

PosInt = Annotated[StrictInt, Field(ge=1)]
NonNegInt = Annotated[StrictInt, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
UnitFloat = Annotated[float, Field(ge=0, le=1)]
# a size that is one int for both spatial axes or an (h, w) pair
PosIntOrPair = Union[PosInt, tuple[PosInt, PosInt]]
NonNegIntOrPair = Union[NonNegInt, tuple[NonNegInt, NonNegInt]]


def pair(v: int | tuple[int, int]) -> tuple[int, int]:
    """`(v, v)` for an int, the pair itself otherwise."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def window_out(size: int, k: int, stride: int, pad: int, dilation: int = 1) -> int:
    """Output length of a sliding window (conv, pooling; floor mode), as torch computes it."""
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def window_shape(op: str, hw: tuple[int, int], k: int | tuple[int, int], stride: int | tuple[int, int],
                 pad: int | tuple[int, int], dilation: int | tuple[int, int] = 1) -> tuple[int, int]:
    """Spatial output size of a window op over `hw`; `ShapeError` when it would be empty."""
    kk, ss, pp, dd = pair(k), pair(stride), pair(pad), pair(dilation)
    out = tuple(window_out(hw[i], kk[i], ss[i], pp[i], dd[i]) for i in range(2))
    if out[0] <= 0 or out[1] <= 0:
        raise ShapeError(
            f"{op}: a {kk[0]}x{kk[1]} window (dilation {dd[0]}x{dd[1]}, pad {pp[0]}x{pp[1]}) does not fit "
            f"a {hw[0]}x{hw[1]} input (output would be {out[0]}x{out[1]})",
            hint="use a smaller kernel, more padding, or fewer reductions before this op")
    return out  # type: ignore[return-value]


def one_input(op: str, inputs: tuple[tuple[int, int, int], ...]) -> tuple[int, int, int]:
    """The single input shape of a unary op (`ShapeError` otherwise)."""
    if len(inputs) != 1:
        raise ShapeError(f"{op} takes one input, got {len(inputs)}",
                         hint="only `sum` and `concat` take several inputs")
    return inputs[0]
