"""Small helpers shared by the passes: evaluating layout expressions and checking op names."""
from __future__ import annotations

from nasc.errors import NascError, PassError
from nasc.ir.expr import BinOp, Expr, Lit, Value, evaluate
from nasc.ir.model import Model
from nasc.ops.registry import is_primitive


def eval_in_model(model: Model, expr: Expr) -> Value:
    """Evaluate a layout-level expression (`cells`, `channels`, `aux.after`) with the model params."""
    return evaluate(expr, model.param_values())


def cell_count(model: Model) -> int:
    """The number of cell instances of `model` (`layout.cells` evaluated)."""
    n = eval_in_model(model, model.layout.cells)
    if not isinstance(n, int) or isinstance(n, bool):
        raise PassError(f"layout.cells must be an int, got {n!r}", model.layout.span)
    return n


def darts_aux_after(cells: Expr) -> Expr:
    """The expression `2 * cells // 3` (the DARTS position of the aux tower), kept symbolic so a
    later `--set layers=...` still moves the tower with the cell count."""
    if isinstance(cells, Lit) and isinstance(cells.value, int):
        return Lit(value=2 * cells.value // 3)
    return BinOp(op="//", lhs=BinOp(op="*", lhs=Lit(value=2), rhs=cells), rhs=Lit(value=3))


def darts_reductions(cells: int) -> tuple[int, int]:
    """The DARTS rule: reduction cells at `cells // 3` and `2 * cells // 3`."""
    return (cells // 3, 2 * cells // 3)


def op_in_scope(model: Model, name: str) -> bool:
    """Whether `name` is a primitive or an op defined in (or imported into) `model`."""
    try:
        return is_primitive(name) or model.op_def(name) is not None
    except NascError:
        return False
