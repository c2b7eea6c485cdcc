"""Pareto fronts over any cost axis: the non-dominated set, the lower convex hull and its epsilon band.

    from nasc.search.pareto import Point, non_dominated, lower_convex_hull, epsilon_band
    pts = [Point("a", cost=1e6, error=0.30), Point("b", cost=4e6, error=0.21), ...]
    non_dominated(pts)            # no other point is at most as costly AND at most as wrong
    lower_convex_hull(pts)        # the hull of error against cost, cheapest first (Petridish)
    epsilon_band(pts, 0.025)      # points within 2.5% (relative error) of the hull: parent pool

The axes are plain numbers: `cost` is whatever the search minimises next to error (MACs, params,
activation bytes, latency); `error` is what it minimises first (e.g. 1 - val_top1). Ties are broken
by key, so every function is deterministic. Torch-free, pure functions.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Point:
    """One candidate on the cost/error plane; `key` identifies it (trial index, model id)."""

    key: Hashable
    cost: float
    error: float


def points_from_rows(rows: Iterable[Mapping[str, Any]], *, key: str, cost: str,
                     error: str | None = None, accuracy: str | None = None) -> list[Point]:
    """Points from table rows: `error` names an error column, or `accuracy` one to use as 1 - value.

    Rows missing a figure (a failed trial) are skipped.
    """
    if (error is None) == (accuracy is None):
        raise ValueError("give exactly one of `error` and `accuracy`")
    out = []
    for r in rows:
        c, e = r.get(cost), r.get(error) if error is not None else r.get(accuracy or "")
        if c is None or e is None:
            continue
        out.append(Point(r[key], float(c), float(e) if error is not None else 1.0 - float(e)))
    return out


def _key_order(key: Hashable) -> tuple[int, Any]:
    # numbers in numeric order (trial 2 before trial 10), anything else by its text
    return (0, key) if isinstance(key, (int, float)) else (1, str(key))


def _order(p: Point) -> tuple[float, float, tuple[int, Any]]:
    return (p.cost, p.error, _key_order(p.key))


def dominates(a: Point, b: Point) -> bool:
    """Whether `a` is at most as costly and at most as wrong as `b`, and better in one of them."""
    return a.cost <= b.cost and a.error <= b.error and (a.cost < b.cost or a.error < b.error)


def non_dominated(points: Sequence[Point]) -> list[Point]:
    """The points no other point dominates, cheapest first (equal points are all kept)."""
    ordered = sorted(points, key=_order)
    front: list[Point] = []
    best = math.inf  # lowest error among strictly cheaper points seen so far
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j].cost == ordered[i].cost:
            j += 1
        group = ordered[i:j]  # same cost: only the lowest error survives (and its equals)
        low = group[0].error
        if low < best:
            front.extend(p for p in group if p.error == low)
            best = low
        i = j
    return front


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a.cost - o.cost) * (b.error - o.error) - (a.error - o.error) * (b.cost - o.cost)


def lower_convex_hull(points: Sequence[Point]) -> list[Point]:
    """The lower convex hull of error against cost, from the cheapest point to the most accurate.

    Only the part that decreases in error is kept (Petridish's hull: a point right of the most
    accurate one never helps). Collinear points are dropped, duplicate costs keep their lowest
    error, a single point is its own hull.
    """
    front = non_dominated(points)
    hull: list[Point] = []
    seen: set[tuple[float, float]] = set()
    for p in front:
        if (p.cost, p.error) in seen:  # an exact duplicate: keep the first by key
            continue
        seen.add((p.cost, p.error))
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) <= 0:
            hull.pop()
        hull.append(p)
    return hull


def hull_error_at(hull: Sequence[Point], cost: float) -> float:
    """The hull's error at `cost` by linear interpolation (flat beyond its ends)."""
    if not hull:
        raise ValueError("empty hull")
    if cost <= hull[0].cost:
        return hull[0].error
    for a, b in zip(hull, hull[1:]):
        if cost <= b.cost:
            if b.cost == a.cost:
                return min(a.error, b.error)
            t = (cost - a.cost) / (b.cost - a.cost)
            return a.error + t * (b.error - a.error)
    return hull[-1].error


def epsilon_band(points: Sequence[Point], eps: float, hull: Sequence[Point] | None = None) -> list[Point]:
    """The points whose error is within a factor `1 + eps` of the hull's error at their cost.

    This is Petridish's parent pool (`convex_hull_eps`): models near the frontier, not only on it,
    so search can grow a slightly worse but cheaper-to-improve model. Cheapest first.
    """
    if eps < 0:
        raise ValueError("eps must be >= 0")
    hull = lower_convex_hull(points) if hull is None else list(hull)
    if not hull:
        return []
    band = [p for p in points if p.error <= hull_error_at(hull, p.cost) * (1.0 + eps) + 1e-12]
    return sorted(band, key=_order)
