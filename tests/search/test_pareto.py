"""The Pareto module on hand-made points: front, lower convex hull, epsilon band."""
from __future__ import annotations

import pytest

from nasc.search.pareto import (Point, dominates, epsilon_band, hull_error_at, lower_convex_hull,
                                non_dominated, points_from_rows)


def keys(points: list[Point]) -> list[object]:
    return [p.key for p in points]


def test_non_dominated_keeps_equal_points_and_orders_by_cost() -> None:
    pts = [Point("a", 1, 0.5), Point("b", 2, 0.4), Point("c", 2, 0.45), Point("d", 3, 0.4),
           Point("e", 4, 0.1), Point("f", 4, 0.1), Point("g", 0.5, 0.9)]
    # c loses to b (same cost, more error); d to b (same error, more cost); e and f tie
    assert keys(non_dominated(pts)) == ["g", "a", "b", "e", "f"]
    assert dominates(Point(0, 1, 0.1), Point(1, 1, 0.2))
    assert not dominates(Point(0, 1, 0.1), Point(1, 1, 0.1))


def test_numeric_keys_break_ties_numerically() -> None:
    pts = [Point(10, 1, 0.5), Point(2, 1, 0.5)]
    assert keys(non_dominated(pts)) == [2, 10]


def test_hull_drops_points_above_the_chord_and_collinear_points() -> None:
    pts = [Point("a", 0, 1.0), Point("b", 1, 0.5), Point("c", 2, 0.4),   # c above chord b-d
           Point("d", 3, 0.1), Point("mid", 1.5, 0.3), Point("far", 5, 0.1)]
    # `mid` lies below the chord b-d, so it replaces c; `far` is dominated by d
    assert keys(lower_convex_hull(pts)) == ["a", "b", "mid", "d"]
    collinear = [Point(i, float(i), 1.0 - 0.1 * i) for i in range(5)]
    assert keys(lower_convex_hull(collinear)) == [0, 4]


def test_hull_of_one_point_and_of_duplicates() -> None:
    assert keys(lower_convex_hull([Point("x", 3, 0.2)])) == ["x"]
    assert lower_convex_hull([]) == []
    dup = [Point("a", 1, 0.3), Point("b", 1, 0.3), Point("c", 1, 0.5), Point("d", 2, 0.1)]
    assert keys(lower_convex_hull(dup)) == ["a", "d"]  # same cost: lowest error, first key


def test_hull_interpolation_and_epsilon_band() -> None:
    hull = [Point("a", 0, 1.0), Point("b", 2, 0.2)]
    assert hull_error_at(hull, 1) == pytest.approx(0.6)
    assert hull_error_at(hull, -1) == 1.0 and hull_error_at(hull, 9) == 0.2
    pts = [*hull, Point("near", 1, 0.62), Point("off", 1, 0.7), Point("right", 3, 0.205)]
    assert keys(epsilon_band(pts, 0.05)) == ["a", "near", "b", "right"]
    assert keys(epsilon_band(pts, 0.0)) == ["a", "b"]
    assert keys(epsilon_band(pts, 0.2)) == ["a", "near", "off", "b", "right"]
    with pytest.raises(ValueError):
        epsilon_band(pts, -0.1)


def test_points_from_rows_skip_failed_rows() -> None:
    rows = [{"trial": 0, "macs": 5, "val_top1": 0.75}, {"trial": 1, "error": "boom"},
            {"trial": 2, "macs": 3, "val_top1": 0.5}]
    pts = points_from_rows(rows, key="trial", cost="macs", accuracy="val_top1")
    assert [(p.key, p.cost, p.error) for p in pts] == [(0, 5.0, 0.25), (2, 3.0, 0.5)]
    with pytest.raises(ValueError):
        points_from_rows(rows, key="trial", cost="macs")
