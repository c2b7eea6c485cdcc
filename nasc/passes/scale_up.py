"""`scale-up`: change the macro skeleton (cell count, initial width, reduction positions), as DARTS
does between search (8 cells, width 16) and evaluation (20 cells, width 36).

Searched cell templates are reused for every instance of their type: the layout refers to templates
by name, so only the layout changes. When `layout.cells` / `layout.channels` is a bare reference to
a model param (`cells = layers`, `channels = C`), that param's default is updated instead, so every
expression using it follows (the stem width `C * 3`, `reductions = (layers // 3, ...)`). Without
`reductions`, a new cell count puts the reductions where DARTS' thirds rule says; the aux tower
moves to `2 * cells // 3`.
"""
from __future__ import annotations

from pydantic import Field

from nasc.errors import PassError
from nasc.ir.expr import Expr, Lit, Ref
from nasc.ir.macro import aux_position
from nasc.ir.model import Model
from nasc.passes.common import cell_count, darts_reductions, eval_in_model
from nasc.passes.registry import CompilerPass


def _set_value(model: Model, field: str, value: int) -> Model:
    """Set `layout.<field>` to `value`: through its param when it is a bare param reference."""
    expr: Expr = getattr(model.layout, field)
    if isinstance(expr, Ref) and any(p.name == expr.name for p in model.params):
        params = tuple(p.model_copy(update={"default": value}) if p.name == expr.name else p
                       for p in model.params)
        return model.model_copy(update={"params": params})
    layout = model.layout.model_copy(update={field: Lit(value=value)})
    return model.model_copy(update={"layout": layout})


def scale_up(model: Model, cells: int | None = None, channels: int | None = None,
             reductions: list[int] | None = None) -> Model:
    """Return `model` with the given cell count, initial width and reduction positions."""
    out = model
    if channels is not None:
        out = _set_value(out, "channels", channels)
    if cells is not None:
        out = _set_value(out, "cells", cells)
    n = cell_count(out)
    layout = out.layout
    if reductions is not None:
        bad = [r for r in reductions if not 0 <= r < n]
        if bad or len(set(reductions)) != len(reductions):
            raise PassError(f"reductions {list(reductions)} must be distinct cell indices in 0..{n - 1}",
                            model.layout.span, hint=f"e.g. the DARTS rule {list(darts_reductions(n))}")
        layout = layout.model_copy(update={"reductions": tuple(Lit(value=r) for r in sorted(reductions))})
    elif cells is not None and layout.reductions is not None:
        # keep a symbolic `(layers // 3, 2 * layers // 3)` when it already follows the new count
        current = tuple(eval_in_model(out, r) for r in layout.reductions)
        if current != darts_reductions(n):
            layout = layout.model_copy(update={"reductions": tuple(Lit(value=r) for r in darts_reductions(n))})
    out = out.model_copy(update={"layout": layout})
    if cells is not None and out.aux is not None and eval_in_model(out, out.aux.after) != aux_position(n):
        out = out.model_copy(update={"aux": out.aux.model_copy(update={"after": Lit(value=aux_position(n))})})
    return out


class ScaleUp(CompilerPass):
    """Set the cell count, initial width and reduction cells of the macro skeleton."""

    name = "scale-up"
    summary = "change cells / channels / reductions (search -> evaluation network)"

    cells: int | None = Field(default=None, ge=1, description="number of cells")
    channels: int | None = Field(default=None, ge=1, description="initial cell width")
    reductions: list[int] | None = Field(default=None, description="reduction cell indices (default: DARTS thirds)")

    def run(self, model: Model) -> Model:
        return scale_up(model, self.cells, self.channels, self.reductions)
