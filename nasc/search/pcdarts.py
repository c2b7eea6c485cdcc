"""PC-DARTS' edge normalisation as pure IR transforms (torch-free): which choice edges share a
softmax, and the network derived from alphas and betas.

    node_groups(cell)                       # [(start, end), ...]: rows of one node's choice edges
    edge_weights(space, betas)              # {"normal": [..per choice edge..], ...}
    derive(space, alphas, betas)            # IR -> IR via `finalize` (the DARTS rule)

Betas are one vector per cell template, one entry per choice edge in `choice_edge_ids` order (the
rows of the alpha matrix). The edge weight is the softmax of the betas over the choice edges of
the same node. PC-DARTS derives with the edge strength `softmax(alpha) * edge weight`: each edge
takes its strongest candidate other than `none` (unchanged by the scaling), and a node with
`keep k` keeps the k edges whose best candidate times edge weight is largest.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from nasc.errors import PassError
from nasc.ir.model import Cell, Choice, Model
from nasc.ir.queries import choice_edge_ids
from nasc.passes.affine_bn import set_affine
from nasc.passes.finalize import finalize, scores_from_matrices, softmax


def node_groups(cell: Cell) -> list[tuple[int, int]]:
    """Row ranges `[start, end)` of the choice edges of each node of `cell` that has any (rows in
    `choice_edge_ids` order, which lists a node's choice edges together)."""
    out: list[tuple[int, int]] = []
    start = 0
    for node in cell.nodes:
        n = sum(1 for e in node.edges if isinstance(e.op, Choice))
        if n:
            out.append((start, start + n))
            start += n
    return out


def edge_weights(space: Model, betas: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
    """softmax(beta) over each node's choice edges, per template (one value per choice edge)."""
    out: dict[str, list[float]] = {}
    for cell in space.cells:
        ids = choice_edge_ids(cell)
        if not ids:
            continue
        if cell.name not in betas:
            raise PassError(f"no edge weights (betas) for cell template `{cell.name}`", cell.span)
        row = [float(b) for b in betas[cell.name]]
        if len(row) != len(ids):
            raise PassError(f"cell `{cell.name}` has {len(ids)} choice edges but {len(row)} betas",
                            cell.span)
        weights: list[float] = []
        for s, e in node_groups(cell):
            weights.extend(softmax(row[s:e]))
        out[cell.name] = weights
    return out


def edge_strengths(space: Model, alphas: Mapping[str, Any],
                   betas: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
    """Per choice edge id: `softmax(alpha) * edge weight` (what PC-DARTS ranks by)."""
    scores = scores_from_matrices(space, alphas)
    weights = edge_weights(space, betas)
    out: dict[str, list[float]] = {}
    for cell in space.cells:
        for eid, w in zip(choice_edge_ids(cell), weights.get(cell.name, [])):
            out[eid] = [p * w for p in softmax(scores[eid])]
    return out


def derive(space: Model, alphas: Mapping[str, Any], betas: Mapping[str, Sequence[float]], *,
           rule: str = "darts", affine: bool = True, max_skip: int | None = None,
           skip_cells: str = "normal") -> Model:
    """The discrete network PC-DARTS derives from `space`, the raw alphas and the raw betas (the
    `finalize` pass on the edge strengths as probabilities); affine batch norms unless
    `affine=False`; `max_skip`: the P-DARTS cap (`nasc.passes.skip_cap`)."""
    strengths = edge_strengths(space, alphas, betas)
    if not all(math.isfinite(x) for row in strengths.values() for x in row):
        raise PassError("PC-DARTS edge strengths are not all finite",
                        hint="the alphas or betas diverged; lower the alpha learning rate")
    final = finalize(space, strengths, logits=False, rule=rule, max_skip=max_skip,
                     skip_cells=skip_cells)
    return set_affine(final, affine)
