"""`aux-towers`: add (or remove) the auxiliary classifier tower of the DARTS evaluation networks.

The tower reads the output of cell `after` (default `2 * cells // 3`, DARTS' position, kept as an
expression of the cell count) and is weighted `weight` (0.4) in the training loss. Its op defaults
by input size: `cifar_aux` for small inputs (it reads an 8x8 map), `imagenet_aux` for inputs of
128 pixels and more (a 7x7 map of a 224 input). An existing tower is kept unless an option is given.
"""
from __future__ import annotations

from pydantic import Field

from nasc.errors import PassError
from nasc.ir.expr import Lit
from nasc.ir.macro import DEFAULT_AUX_WEIGHT
from nasc.ir.model import AuxHead, Model, OpCall
from nasc.passes.common import cell_count, darts_aux_after, eval_in_model, op_in_scope
from nasc.passes.registry import CompilerPass

IMAGENET_MIN_SIZE = 128


def default_aux_op(model: Model) -> str:
    """`imagenet_aux` for inputs of at least 128 pixels on a side, else `cifar_aux`."""
    h = eval_in_model(model, model.input[1])
    return "imagenet_aux" if isinstance(h, int) and h >= IMAGENET_MIN_SIZE else "cifar_aux"


def add_aux_tower(model: Model, after: int | None = None, weight: float | None = None,
                  op: str | None = None) -> Model:
    """Return `model` with an aux tower; unspecified options keep the existing tower's values,
    else take the defaults (DARTS position, weight 0.4, op by input size)."""
    old = model.aux
    op_name = op or (old.op.op if old else default_aux_op(model))
    if not op_in_scope(model, op_name):
        raise PassError(f"aux tower op `{op_name}` is not defined", model.span,
                        hint="`import std` (it defines cifar_aux and imagenet_aux) or pass the op option")
    if after is not None:
        n = cell_count(model)
        if not 0 <= after < n:
            raise PassError(f"aux tower after cell {after}, but the network has cells 0..{n - 1}",
                            model.layout.span, hint=f"use an index below {n}")
    call = old.op if old and op is None else OpCall(op=op_name, span=model.layout.span)
    new = AuxHead(
        op=call,
        after=Lit(value=after) if after is not None else (old.after if old else darts_aux_after(model.layout.cells)),
        weight=Lit(value=float(weight)) if weight is not None
        else (old.weight if old else Lit(value=DEFAULT_AUX_WEIGHT)),
        span=old.span if old else model.layout.span,
    )
    return model.model_copy(update={"aux": new})


def remove_aux_tower(model: Model) -> Model:
    """Return `model` without an aux tower."""
    return model.model_copy(update={"aux": None})


class AuxTowers(CompilerPass):
    """Add the auxiliary tower (`enable=false` removes it)."""

    name = "aux-towers"
    summary = "add an auxiliary classifier tower after cell 2*cells//3 (DARTS)"

    after: int | None = Field(default=None, ge=0, description="cell index the tower reads (default 2*cells//3)")
    weight: float | None = Field(default=None, ge=0, description="loss weight (default 0.4)")
    op: str | None = Field(default=None, description="tower op (default cifar_aux / imagenet_aux by input size)")
    enable: bool = Field(default=True, description="false removes the tower")

    def run(self, model: Model) -> Model:
        if not self.enable:
            return remove_aux_tower(model)
        return add_aux_tower(model, self.after, self.weight, self.op)
