"""Random sampling of a discrete network from a search space (Li & Talwalkar's baseline).

    import random
    from nasc.search.random import sample, sample_choices
    picks = sample_choices(space, random.Random(0))   # {"normal.n0.e1": "sep_conv_3x3", ...}
    net = sample(space, random.Random(0))             # the same draw as a discrete network

Per cell template, in template / node / edge order: a node with `keep=k` keeps k of its choice
edges, drawn uniformly without replacement; every kept choice edge (every choice edge of a node
without `keep`) takes one candidate drawn uniformly among its candidates other than `none`/`zero`
(as DARTS' genotype does: a sampled `none` would make the node's `keep` meaningless). Fixed edges
are always kept. The draw is turned into one-hot probabilities and handed to the `finalize` pass
with the `darts` rule, so a sample is exactly the network `finalize` derives from those weights.
"""
from __future__ import annotations

import random as _random
from collections.abc import Mapping

from nasc.ir.ids import edge_id
from nasc.ir.model import Choice, Model
from nasc.passes.finalize import finalize
from nasc.passes.finalize_rules import NONE_OPS

# the weight of a dropped edge's candidates: below the kept edges' 1.0, so the darts rule's
# "keep the k strongest edges" keeps exactly the sampled ones
_DROPPED = 0.5


def sample_choices(space: Model, rng: _random.Random) -> dict[str, str | None]:
    """Draw an architecture: per template choice edge id, the op picked, or None if dropped."""
    picks: dict[str, str | None] = {}
    for cell in space.cells:
        for node in cell.nodes:
            choice_idx = [i for i, e in enumerate(node.edges) if isinstance(e.op, Choice)]
            kept = set(choice_idx)
            if node.keep is not None and node.keep < len(choice_idx):
                kept = set(rng.sample(choice_idx, node.keep))
            for i in choice_idx:
                op = node.edges[i].op
                assert isinstance(op, Choice)
                if i not in kept:
                    picks[edge_id(cell.name, node.name, i)] = None
                    continue
                names = [c.op for c in op.candidates if c.op not in NONE_OPS]
                picks[edge_id(cell.name, node.name, i)] = rng.choice(names or
                                                                     [c.op for c in op.candidates])
    return picks


def choice_scores(space: Model, picks: Mapping[str, str | None]) -> dict[str, list[float]]:
    """One-hot probabilities for `finalize` (`logits=False`, rule `darts`) encoding `picks`."""
    weights: dict[str, list[float]] = {}
    for cell in space.cells:
        for node in cell.nodes:
            for i, e in enumerate(node.edges):
                if not isinstance(e.op, Choice):
                    continue
                key = edge_id(cell.name, node.name, i)
                pick = picks[key]
                n = len(e.op.candidates)
                if pick is None:
                    weights[key] = [_DROPPED / n] * n
                else:
                    j = next(j for j, c in enumerate(e.op.candidates) if c.op == pick)
                    weights[key] = [1.0 if k == j else 0.0 for k in range(n)]
    return weights


def from_choices(space: Model, picks: Mapping[str, str | None]) -> Model:
    """The discrete network of `space` that `picks` (from `sample_choices`) describes."""
    return finalize(space, choice_scores(space, picks), logits=False, rule="darts")


def sample(space: Model, rng: _random.Random) -> Model:
    """A uniformly random discrete network of `space` (see the module docstring)."""
    return from_choices(space, sample_choices(space, rng))
