"""Small helpers shared by the passes: evaluating layout expressions and checking op names."""
from __future__ import annotations

from nasc.errors import NascError, PassError
from nasc.ir.expr import Expr, Value, evaluate
from nasc.ir.macro import aux_position_expr, default_reductions
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


# The DARTS macro rules live in `nasc.ir.macro`; these names are kept for the passes using them.
darts_aux_after = aux_position_expr
darts_reductions = default_reductions


def op_in_scope(model: Model, name: str) -> bool:
    """Whether `name` is a primitive or an op defined in (or imported into) `model`."""
    try:
        return is_primitive(name) or model.op_def(name) is not None
    except NascError:
        return False
