"""How the commands write numbers for people: SI-suffixed counts, byte sizes, tensor shapes."""
from __future__ import annotations

from collections.abc import Sequence


def si(n: int) -> str:
    """3349342 -> '3.35M'."""
    for div, unit in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def mib(n: int) -> str:
    """Bytes as MiB (or KiB for small figures)."""
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def shape(s: Sequence[int]) -> str:
    """(3, 32, 32) -> '3x32x32'."""
    return "x".join(str(v) for v in s)
