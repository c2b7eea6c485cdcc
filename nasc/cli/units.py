"""How the commands write numbers for people: SI-suffixed counts, byte sizes, tensor shapes."""
from __future__ import annotations

from collections.abc import Sequence


def _fixed2(n: int, div: int) -> str:
    """`n / div` to two decimals in integer arithmetic (a float would overflow on huge counts)."""
    neg, n = n < 0, abs(n)
    hundredths = (n * 100 + div // 2) // div
    return f"{'-' if neg else ''}{hundredths // 100}.{hundredths % 100:02d}"


def si(n: int) -> str:
    """3349342 -> '3.35M'; astronomically large counts as a power of ten ('~10^42')."""
    if abs(n) >= 10**15:
        return f"{'-' if n < 0 else ''}~10^{len(str(abs(n))) - 1}"
    for div, unit in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(n) >= div:
            return f"{_fixed2(n, div)}{unit}"
    return str(n)


def mib(n: int) -> str:
    """Bytes as MiB (or KiB for small figures); astronomically large sizes as a power of ten."""
    if n >= 2**20 * 10**12:
        return f"~10^{len(str(n // 2**20)) - 1} MiB"
    return f"{_fixed2(n, 2**20)} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def shape(s: Sequence[int]) -> str:
    """(3, 32, 32) -> '3x32x32'."""
    return "x".join(str(v) for v in s)
