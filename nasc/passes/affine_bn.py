"""`affine-bn`: make the batch norms of cell ops affine (`Model.affine = True`), as evaluation
networks have them; search spaces build non-affine BN (`affine = false`)."""
from __future__ import annotations

from pydantic import Field

from nasc.ir.model import Model
from nasc.passes.registry import CompilerPass


def set_affine(model: Model, affine: bool = True) -> Model:
    """Return `model` with `affine` set (cell edges and cell input preprocessing follow it)."""
    return model.model_copy(update={"affine": affine})


class AffineBN(CompilerPass):
    """Set the BN affinity of cell ops (default: affine, for evaluation)."""

    name = "affine-bn"
    summary = "make cell batch norms affine (evaluation networks)"

    affine: bool = Field(default=True, description="the affinity to set")

    def run(self, model: Model) -> Model:
        return set_affine(model, self.affine)
