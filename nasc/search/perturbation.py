"""Perturbation-based architecture selection (DARTS-PT: Wang et al., "Rethinking Architecture
Selection in Differentiable NAS", ICLR 2021), on a trained supernet and its held-out data.

    final, record = pt_select(model, space, val_data, batch_size=256, seed=0)

DARTS picks each edge's op by its mixing weight; DARTS-PT shows that the weight need not say how
much the supernet relies on the op, and picks instead the op whose removal hurts the supernet's
validation accuracy most:

1. Edges are visited in a random order (the run's seed). On each, every candidate other than
   `none` is removed in turn (its mixing weight set to 0, the others left as they are, as the
   authors' projection mask does) and the supernet's accuracy on the held-out data measured;
   the op whose removal gives the lowest accuracy wins (ties: the higher validation loss, then
   the larger mixing weight). The edge is then projected: its row becomes the one-hot of the
   winner for the edges that follow.
2. Topology, per node with `keep k` (`edges="pt"`): each of the node's choice edges is removed
   in turn (its whole row zeroed, so the edge contributes nothing); the k edges whose removal
   hurts most are kept, and the others stay removed for the nodes that follow. With
   `edges="rule"` the method's own rule ranks the edges (edge strength of the chosen op).

What is left out: the authors fine-tune the supernet for a few epochs between projections; here
the supernet is used as trained. The supernet runs in evaluation mode (batch-norm running
statistics). Under GDAS the supernet evaluates one path per edge (the argmax op), so removing any
other op changes nothing and the argmax op wins unless its removal does not hurt.

The result is expressed as scores for the `finalize` pass (so the P-DARTS skip cap composes with
it): per edge, the ops in order of how much their removal hurts, inside a band given by the
edge's rank in its node.
"""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from nasc.ir.ids import edge_id
from nasc.ir.model import Choice, Model
from nasc.ir.queries import choice_edge_ids
from nasc.passes.finalize_rules import NONE_OPS
from nasc.search.darts_supernet import DartsSupernet
from nasc.train.data import DeviceData, eval_batches

# a node's edge of rank r (0: most important) scores BAND * (m - r) for its best op, and its ops
# lie in (band, band + 1]: the rule keeps the best bands and picks in the band's order
BAND = 10.0


class _Evaluator:
    """Accuracy and loss of the supernet on fixed held-out batches under given mixing weights."""

    def __init__(self, model: DartsSupernet, data: DeviceData, batch_size: int,
                 batches: int | None, dist: Any = None) -> None:
        self.model = model
        self.dist = dist
        self.batches: list[tuple[Tensor, Tensor]] = []
        for i, (x, y) in enumerate(eval_batches(data, batch_size)):
            if batches is not None and i >= batches:
                break
            if model.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            self.batches.append((x, y))
        self.evaluations = 0

    @torch.no_grad()
    def __call__(self, mixing: Mapping[str, Tensor]) -> tuple[float, float]:
        """`(top-1 accuracy, mean loss)` with `mixing` as the architecture weights."""
        self.model.eval()
        dev = next(iter(mixing.values())).device
        sums = torch.zeros(3, dtype=torch.float64, device=dev)
        for x, y in self.batches:
            out = self.model.net(x, mixing)
            logits = (out[0] if isinstance(out, (tuple, list)) else out).float()
            sums += torch.stack([(logits.argmax(1) == y).sum().double(),
                                 F.cross_entropy(logits, y, reduction="sum").double(),
                                 torch.tensor(float(y.numel()), dtype=torch.float64, device=dev)])
        if self.dist is not None and getattr(self.dist, "enabled", False):
            self.dist.all_reduce_sum(sums)
        self.evaluations += 1
        n = max(float(sums[2]), 1.0)
        return float(sums[0]) / n, float(sums[1]) / n


def _ranks(values: Sequence[Any]) -> list[int]:
    """Rank of each entry, 0 for the largest (ties: the earlier entry first)."""
    order = sorted(range(len(values)), key=lambda i: (values[i], -i), reverse=True)
    out = [0] * len(values)
    for r, i in enumerate(order):
        out[i] = r
    return out


def pt_select(model: DartsSupernet, space: Model, data: DeviceData, *, batch_size: int = 256,
              batches: int | None = None, edges: Literal["pt", "rule"] = "pt", seed: int = 0,
              edge_probs: Mapping[str, Sequence[float]] | None = None,
              dist: Any = None) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """DARTS-PT's selection (see the module docstring). Returns the scores for `finalize`
    (probabilities, `logits=False`, the `darts` rule) and a record: per edge the winner and the
    accuracy without each op, per node the accuracy without each edge.

    `edge_probs` (per template edge id, the method's derivation probabilities: softmax(alpha),
    or PC-DARTS' edge strengths) break ties and rank edges for `edges="rule"`; default softmax of
    the supernet's alphas."""
    from nasc.passes.finalize import scores_from_matrices, softmax

    evaluate = _Evaluator(model, data, batch_size, batches, dist)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        mixing = {t: m.detach().clone() for t, m in model.mixing().items()}
    if edge_probs is None:
        edge_probs = {k: softmax(v) for k, v in
                      scores_from_matrices(space, model.alpha_matrices()).items()}
    base_acc, base_loss = evaluate(mixing)
    cells = {c.name: c for c in space.cells if choice_edge_ids(c)}
    # (template, row, node name, edge index, choice) of every choice edge
    sites: list[tuple[str, int, str, int, Choice]] = []
    for t, cell in cells.items():
        row = 0
        for node in cell.nodes:
            for i, e in enumerate(node.edges):
                if isinstance(e.op, Choice):
                    sites.append((t, row, node.name, i, e.op))
                    row += 1
    rng = random.Random(seed)
    order = list(range(len(sites)))
    rng.shuffle(order)

    op_order: dict[str, list[int]] = {}  # edge id -> candidate indices, most damaging removal first
    record_edges: dict[str, Any] = {}
    for k in order:
        t, row, node, i, choice = sites[k]
        eid = edge_id(t, node, i)
        n = len(choice.candidates)
        trials: dict[int, tuple[float, float]] = {}
        for j, cand in enumerate(choice.candidates):
            if cand.op in NONE_OPS:
                continue
            masked = dict(mixing)
            masked[t] = mixing[t].clone()
            masked[t][row, j] = 0.0
            trials[j] = evaluate(masked)
        probs = edge_probs[eid]
        ranked = sorted(trials, key=lambda j: (trials[j][0], -trials[j][1], -probs[j], j))
        op_order[eid] = ranked
        if ranked:  # project: the winner alone on this edge from now on
            mixing[t] = mixing[t].clone()
            mixing[t][row, :n] = 0.0
            mixing[t][row, ranked[0]] = 1.0
        record_edges[eid] = {"op": choice.candidates[ranked[0]].op if ranked else None,
                             "accuracy_without": {choice.candidates[j].op: trials[j][0]
                                                  for j in trials}}

    # topology: one score per choice edge of a node (higher: keep)
    edge_score: dict[str, float] = {}
    record_nodes: dict[str, Any] = {}
    nodes = [(t, node) for t, cell in cells.items() for node in cell.nodes
             if any(isinstance(e.op, Choice) for e in node.edges)]
    rng.shuffle(nodes)
    for t, node in nodes:
        mine = [(row, i) for (tt, row, nn, i, _) in sites if tt == t and nn == node.name]
        ids = [edge_id(t, node.name, i) for _, i in mine]
        n_choice = len(mine)
        if edges == "pt" and node.keep is not None and node.keep < n_choice:
            accs: dict[str, tuple[float, float]] = {}
            for (row, _), eid in zip(mine, ids):
                masked = dict(mixing)
                masked[t] = mixing[t].clone()
                masked[t][row, :] = 0.0
                accs[eid] = evaluate(masked)
            for eid in ids:  # a lower accuracy without the edge: a more important edge
                edge_score[eid] = -accs[eid][0] + 1e-9 * accs[eid][1]
            kept = sorted(ids, key=lambda e: edge_score[e], reverse=True)[: node.keep]
            for (row, _), eid in zip(mine, ids):
                if eid not in kept:  # removed for the nodes that follow
                    mixing[t] = mixing[t].clone()
                    mixing[t][row, :] = 0.0
            record_nodes[f"{t}.{node.name}"] = {"kept": kept, "accuracy_without": {
                e: a[0] for e, a in accs.items()}}
        else:
            for eid in ids:
                best = op_order[eid][0] if op_order[eid] else 0
                edge_score[eid] = edge_probs[eid][best]

    scores: dict[str, list[float]] = {}
    for t, cell in cells.items():
        for node in cell.nodes:
            idx = [i for i, e in enumerate(node.edges) if isinstance(e.op, Choice)]
            ids = [edge_id(t, node.name, i) for i in idx]
            ranks = _ranks([edge_score[e] for e in ids])
            for i, eid, r in zip(idx, ids, ranks):
                choice = node.edges[i].op
                assert isinstance(choice, Choice)
                band = BAND * (len(ids) - r)
                row = [0.0] * len(choice.candidates)
                ranked = op_order[eid]
                for pos, j in enumerate(ranked):
                    row[j] = band + (len(ranked) - pos) / max(len(ranked), 1)
                scores[eid] = row
    model.train(was_training)
    record = {"rule": "darts-pt", "edges_by": edges, "seed": seed,
              "held_out_images": sum(int(y.numel()) for _, y in evaluate.batches),
              "supernet_accuracy": base_acc, "supernet_loss": base_loss,
              "evaluations": evaluate.evaluations, "ops": record_edges, "nodes": record_nodes}
    return scores, record
