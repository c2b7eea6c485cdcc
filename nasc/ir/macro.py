"""The DARTS macro-skeleton rules, in one place.

A network without explicit `reductions` puts its reduction cells at a third and two thirds of
the cell count; the auxiliary tower reads the output of the cell at two thirds; the width is
multiplied by `DEFAULT_GROWTH` at every reduction cell; the aux loss weight is `DEFAULT_AUX_WEIGHT`.
Verification, shape inference, the passes and the docs all take these rules from here.
"""
from __future__ import annotations

from nasc.errors import ConfigError
from nasc.ir.expr import BinOp, Expr, Lit

DEFAULT_GROWTH = 2  # width multiplier at each reduction cell
DEFAULT_AUX_WEIGHT = 0.4  # loss weight of the auxiliary tower (DARTS)


def default_reductions(cells: int) -> tuple[int, ...]:
    """The reduction cell positions of the DARTS rule, `cells // 3` and `2 * cells // 3`, sorted
    and without repeats (one position for a single cell, none for no cells)."""
    if cells <= 0:
        return ()
    return tuple(sorted({cells // 3, 2 * cells // 3}))


def spaced_reductions(cells: int, count: int) -> tuple[int, ...]:
    """`count` reduction cell positions spread evenly over `cells` cells: `(i + 1) * cells //
    (count + 1)` for i < count, sorted and without repeats. Count 2 is the DARTS rule
    (`default_reductions`), count 0 gives none. A count below 0 or above `cells` raises
    `ConfigError` (it cannot give that many distinct cells)."""
    if count < 0 or count > cells:
        raise ConfigError(f"{count} reduction cell(s) do not fit in {cells} cell(s)", key="reductions",
                          hint=f"use a count between 0 and {max(cells, 0)}")
    return tuple(sorted({(i + 1) * cells // (count + 1) for i in range(count)}))


def default_reductions_expr(cells: Expr) -> tuple[Expr, Expr]:
    """The DARTS rule as expressions of the cell count: `(cells // 3, 2 * cells // 3)`."""
    return (BinOp(op="//", lhs=cells, rhs=Lit(value=3)), aux_position_expr(cells))


def aux_position(cells: int) -> int:
    """The cell whose output the DARTS auxiliary tower reads: `2 * cells // 3`."""
    return 2 * cells // 3


def aux_position_expr(cells: Expr) -> Expr:
    """`2 * cells // 3` as an expression, kept symbolic (unless `cells` is a literal) so a later
    `--set layers=...` still moves the tower with the cell count."""
    if isinstance(cells, Lit) and isinstance(cells.value, int) and not isinstance(cells.value, bool):
        return Lit(value=aux_position(cells.value))
    return BinOp(op="//", lhs=BinOp(op="*", lhs=Lit(value=2), rhs=cells), rhs=Lit(value=3))
