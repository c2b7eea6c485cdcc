"""DARTS (Liu et al., 2019) as pure IR transforms: the supernet of a space, and the network the
architecture weights derive. Torch-free; the trainable module is `nasc.search.darts_supernet`.

    space = load_model("examples/darts_space.nas")
    sup = supernet(space)                              # IR -> IR: checks it is a space, non-affine BN
    final = derive(space, {"normal": [[...], ...], "reduce": [[...], ...]})   # IR -> IR via `finalize`

Architecture weights are one matrix per cell template with choices, shape `(n_choice_edges,
n_candidates)`, rows in `nasc.ir.queries.choice_edge_ids` order; every instance of a template
shares it. The mixing weights are `softmax(alpha)` per row.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nasc.errors import ValidationError
from nasc.ir.model import Model
from nasc.ir.queries import is_search_space
from nasc.passes.affine_bn import set_affine
from nasc.passes.finalize import finalize, scores_from_matrices


def supernet(space: Model) -> Model:
    """The DARTS supernet IR of `space`: the same model with non-affine cell batch norms.

    Raises `ValidationError` when `space` has no `choice` edge (nothing to search).
    """
    if not is_search_space(space):
        raise ValidationError(
            f"`{space.name}` is not a search space: it has no `choice` edges",
            space.span, hint="DARTS searches spaces such as examples/darts_space.nas; edges like "
                             "`darts(s0)` or `[sep_conv_3x3, skip_connect](s1)` are choices")
    return set_affine(space, False)


def derive(space: Model, alphas: Mapping[str, Any], *, rule: str = "darts",
           affine: bool = True, max_skip: int | None = None, skip_cells: str = "normal") -> Model:
    """The discrete network DARTS derives from `space` and the raw alphas (per-template matrices,
    rows in `choice_edge_ids` order): per edge the strongest candidate other than `none`, per node
    with `keep k` the k strongest edges (the `finalize` pass, softmax per edge). The result has
    affine batch norms (an evaluation network) unless `affine=False`. `max_skip`: the P-DARTS
    cap on skip connections per cell (`nasc.passes.skip_cap`).
    """
    scores = scores_from_matrices(space, alphas)
    final = finalize(space, scores, logits=True, rule=rule, max_skip=max_skip,
                     skip_cells=skip_cells)
    return set_affine(final, affine)
