"""`finalize`: a search space plus architecture scores -> a discrete network.

Scores (DARTS' alphas, a random draw's one-hot rows, ...) are keyed by template edge id
(`normal.n2.e0`), one row per choice edge with one value per candidate, given either as raw logits (`logits=true`, the default: softmax per edge, as DARTS'
`genotype()` does) or as probabilities. The rule (`darts` by default, see `finalize_rules`) picks
each node's edges and ops; the result has no `choice` and no `keep` left.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from nasc.errors import PassError
from nasc.ir.ids import edge_id
from nasc.ir.model import Cell, Choice, Model
from nasc.ir.queries import choice_edge_ids
from nasc.passes.finalize_rules import get_rule
from nasc.passes.registry import CompilerPass


def softmax(xs: Sequence[float]) -> list[float]:
    """Numerically stable softmax of a list of floats."""
    m = max(xs)
    ex = [math.exp(x - m) for x in xs]
    s = sum(ex)
    return [x / s for x in ex]


def scores_from_matrices(model: Model, matrices: Mapping[str, Any]) -> dict[str, list[float]]:
    """Turn per-template matrices (rows in `choice_edge_ids` order, e.g. DARTS alphas as tensors or
    nested lists) into the per-edge dict `finalize` takes."""
    out: dict[str, list[float]] = {}
    for cell in model.cells:
        ids = choice_edge_ids(cell)
        if not ids:
            continue
        if cell.name not in matrices:
            raise PassError(f"no architecture scores (alphas) for cell template `{cell.name}`", cell.span)
        m = matrices[cell.name]
        rows = m.tolist() if hasattr(m, "tolist") else [list(r) for r in m]
        if len(rows) != len(ids):
            raise PassError(f"cell `{cell.name}` has {len(ids)} choice edges but its score matrix "
                            f"has {len(rows)} rows", cell.span)
        out.update({i: [float(x) for x in r] for i, r in zip(ids, rows)})
    return out


def _check_scores(model: Model, scores: Mapping[str, Sequence[float]]) -> None:
    known: dict[str, int] = {}
    for cell in model.cells:
        for node in cell.nodes:
            for i, e in enumerate(node.edges):
                if isinstance(e.op, Choice):
                    known[edge_id(cell.name, node.name, i)] = len(e.op.candidates)
    missing = [k for k in known if k not in scores]
    if missing:
        raise PassError(f"no scores for choice edge(s) {', '.join(missing[:4])}"
                        + (f" and {len(missing) - 4} more" if len(missing) > 4 else ""),
                        hint="scores are keyed by template edge id, e.g. `normal.n0.e1`")
    extra = sorted(k for k in scores if k not in known)
    if extra:
        raise PassError(f"scores given for unknown choice edge(s) {', '.join(extra[:4])}",
                        hint="scores are keyed by template edge id of a choice edge, e.g. `normal.n0.e1`")
    for k, n in known.items():
        row = scores[k]
        if len(row) != n:
            raise PassError(f"scores of `{k}` have {len(row)} values for {n} candidates")
        if not all(math.isfinite(x) for x in row):
            raise PassError(f"scores of `{k}` are not all finite: {list(row)}")


def _finalize_cell(cell: Cell, probs: Mapping[str, list[float]], rule_name: str) -> Cell:
    rule = get_rule(rule_name)
    nodes = []
    for node in cell.nodes:
        node_probs = {i: probs[edge_id(cell.name, node.name, i)]
                      for i, e in enumerate(node.edges) if isinstance(e.op, Choice)}
        if not node_probs:
            nodes.append(node)
            continue
        edges = tuple(rule(node, node_probs))
        nodes.append(node.model_copy(update={"edges": edges, "keep": None}))
    return cell.model_copy(update={"nodes": tuple(nodes)})


def finalize(model: Model, scores: Mapping[str, Sequence[float]], logits: bool = True,
             rule: str = "darts", max_skip: int | None = None,
             skip_cells: str = "normal") -> Model:
    """Return the discrete network chosen from space `model` by the per-candidate `scores` (keyed
    by template edge id; raw logits, softmaxed per edge, unless `logits=False`) under `rule`.

    `max_skip`: the P-DARTS cap, at most that many skip connections per cell of the templates
    `skip_cells` names (`normal`: the network's normal template, `all`); see `skip_cap`."""
    _check_scores(model, scores)
    probs = {k: (softmax(list(v)) if logits else [float(x) for x in v]) for k, v in scores.items()}
    if max_skip is not None:
        from nasc.passes.skip_cap import cap_skips, capped_templates

        for cell in model.cells:
            if cell.name in capped_templates(model, skip_cells):
                probs = cap_skips(cell, probs, rule, max_skip)
    return model.model_copy(update={"cells": tuple(_finalize_cell(c, probs, rule) for c in model.cells)})


class Finalize(CompilerPass):
    """Derive a discrete network from a search space and its architecture scores."""

    name = "finalize"
    summary = "search space + architecture scores -> discrete network (DARTS rule)"

    scores: dict[str, list[float]] = Field(default_factory=dict,
                                            description="per template choice edge id: one value per candidate")
    logits: bool = Field(default=True, description="scores are raw logits (softmax per edge), else probabilities")
    rule: str = Field(default="darts", description="finalization rule: darts | argmax | petridish")
    max_skip: int | None = Field(default=None, ge=0, description="P-DARTS cap: at most this many "
                                 "skip connections per cell (None: no cap)")
    skip_cells: Literal["normal", "all"] = Field(default="normal", description="cells the skip "
                                                 "cap applies to: the normal template | all")

    def run(self, model: Model) -> Model:
        return finalize(model, self.scores, self.logits, self.rule, self.max_skip, self.skip_cells)
