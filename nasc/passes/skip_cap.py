"""The P-DARTS skip cap: at most `max_skip` skip connections per cell at derivation.

P-DARTS (Chen et al., "Progressive Differentiable Architecture Search", ICCV 2019, section 3.3)
controls the collapse of DARTS to parameter-free cells by keeping at most M skip connections in
the derived normal cell (M = 2 in the paper): while the derived cell has more, the skip
connection with the smallest mixing weight among the chosen ones is removed (its weight set to
zero, as the authors' `delete_min_sk_prob`) and the cell is derived again, so that edge takes its
next-best op, or, in a `keep k` node, another edge takes its place.

    probs = cap_skips(cell, probs, "darts", max_skip=2)   # edited probabilities; then finalize

Torch-free; used by `nasc.passes.finalize.finalize(max_skip=...)`.
"""
from __future__ import annotations

from collections.abc import Mapping

from nasc.ir.ids import edge_id
from nasc.ir.model import Cell, Choice, Edge, Model, Node
from nasc.passes.finalize_rules import get_rule

# the ops a cap counts: DARTS' `skip_connect` and the bare identity edge
SKIP_OPS = frozenset({"skip_connect", "identity"})
# what a removed skip's probability becomes: below every probability (>= 0), and finite, since
# the rules and `_check_scores` refuse non-finite scores
REMOVED = -1.0


def capped_templates(model: Model, cells: str) -> set[str]:
    """The cell templates a cap applies to: the network's normal template (`cells="normal"`, as
    in P-DARTS) or every template (`"all"`)."""
    if cells == "all":
        return {c.name for c in model.cells}
    return {model.layout.normal}


def chosen_ops(node: Node, node_probs: Mapping[int, list[float]], rule: str) -> dict[int, str]:
    """`{choice edge index: chosen op}` of the edges `rule` keeps in `node`.

    Rules return kept edges in index order as copies of the originals with a new op, so each is
    matched to the first not yet matched original edge reading the same input."""
    kept = get_rule(rule)(node, node_probs)
    out: dict[int, str] = {}
    start = 0
    for new in kept:
        for i in range(start, len(node.edges)):
            if _same_edge(node.edges[i], new):
                if isinstance(node.edges[i].op, Choice):
                    out[i] = new.op.op  # type: ignore[union-attr]
                start = i + 1
                break
    return out


def _same_edge(orig: Edge, new: Edge) -> bool:
    return orig.input == new.input and orig.drop_path == new.drop_path


def cap_skips(cell: Cell, probs: Mapping[str, list[float]], rule: str,
              max_skip: int) -> dict[str, list[float]]:
    """The probabilities of `cell`'s choice edges (keyed by template edge id) edited so that
    `rule` derives at most `max_skip` skip connections (other cells' entries are copied as
    they are). An edge with no non-skip candidate left keeps its skip."""
    out = {k: list(v) for k, v in probs.items()}
    while True:
        skips: list[tuple[float, str, int]] = []  # (probability, edge id, candidate index)
        for node in cell.nodes:
            ids = {i: edge_id(cell.name, node.name, i)
                   for i, e in enumerate(node.edges) if isinstance(e.op, Choice)}
            if not ids:
                continue
            for i, op in chosen_ops(node, {i: out[k] for i, k in ids.items()}, rule).items():
                if op not in SKIP_OPS:
                    continue
                choice = node.edges[i].op
                assert isinstance(choice, Choice)
                row = out[ids[i]]
                j = max((j for j, c in enumerate(choice.candidates) if c.op == op),
                        key=lambda j: row[j])
                skips.append((out[ids[i]][j], ids[i], j))
        if len(skips) <= max_skip:
            return out
        removable = [s for s in skips if s[0] > REMOVED]
        if not removable:  # nothing else to choose: the cap cannot be met
            return out
        _, eid, j = min(removable, key=lambda s: (s[0], s[1]))
        out[eid][j] = REMOVED
