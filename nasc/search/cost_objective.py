"""The cost-aware objective of a differentiable search: the expected cost of the derived network
under the current mixing probabilities, exact per candidate, differentiable in alpha.

    table = cost_table(space, "macs")                    # exact per-candidate costs (the compiler's)
    e = expected_cost(table, {t: softmax(alpha_t)})      # a scalar tensor, differentiable
    penalty = CostPenalty(table, target=2e6, weight=1.0) # weight * relu(E[cost] / target - 1)

The table comes from the elaborated space in its derived form (affine batch norms, as `derive`
makes it), so every candidate's cost is the cost it has in the derived network, per cell
instance (instances of a template share the alphas, so their costs are summed per row):

    E[cost] = fixed + sum over choice edges e of  q_e * sum_{j != none} p~_ej * cost_ej

- `fixed`: stems, cell-input preprocessing, fixed edges, projections and the head;
- `p~_e`: the mixing probabilities (softmax(alpha), for DARTS the mixed op's weights, for GDAS
  the law of its Gumbel-max sample, for PC-DARTS the candidates' share) renormalised over the
  candidates other than `none`, because the derivation never picks `none`;
- `q_e`: the probability that the derived network keeps edge e: 1 in a node without `keep`;
  in a node that keeps k of its n choice edges, k / n (the approximation: the derivation keeps
  the k edges whose best op is strongest, which has no smooth form; the uniform share keeps the
  expected number of kept edges exact, k, and leaves the penalty's pull on the ops). Given the
  derived network's edges (`kept`), q is that 0/1 mask and, at one-hot p~, E[cost] is the
  derived network's exact cost (`nasc stats`). Two approximations in `proj` nodes with `keep`
  (the projection is costed at the supernet's width) and in `latency` (a sum of per-op
  latencies measured one op at a time, the lookup-table model of FBNet and ProxylessNAS: it
  leaves out sums, concatenations and the framework's per-call overheads between ops).

Metrics: `macs` and `params` from `nasc.analysis.cost` (exactly as `nasc stats` counts them);
`latency` (milliseconds) from a table of each distinct candidate measured on the search device
(`nasc.lower.latency.measure_latency`, the eval forward at `latency_batch`), cached in the run
directory as `latency_table.json` so a resumed run reuses it.

The penalty (`search.cost`): `weight * relu(E[cost] / target - 1)`, a hinge on the relative
excess over the budget: zero under the target (the search is then pure DARTS), and a pull of
`weight / target` per unit of expected cost above it, whatever the metric's unit.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from nasc.analysis.network import Mixed, Network, Pipeline
from nasc.errors import ConfigError
from nasc.ir.model import Model
from nasc.ir.queries import choice_edge_ids
from nasc.passes.finalize_rules import NONE_OPS
from nasc.train.config import Section

Metric = Literal["macs", "params", "latency"]
LATENCY_TABLE = "latency_table.json"


class CostSection(Section):
    """`search.cost`: a budget on the derived network's cost, as a penalty on the architecture
    loss of every differentiable search (DARTS, PC-DARTS, GDAS)."""

    metric: Literal["macs", "params", "latency"] = Field(
        "macs", description="the cost: macs (multiply-adds, batch 1) | params | latency "
                            "(ms, measured per candidate op on the search device)")
    target: float | None = Field(None, gt=0, description="the budget of the derived network in "
                                                         "the metric's unit (None: no penalty)")
    weight: float = Field(1.0, ge=0, description="penalty weight: weight * relu(E[cost] / "
                                                 "target - 1) is added to the architecture loss")
    latency_batch: int = Field(1, ge=1, description="latency: the batch size of the measured "
                                                    "forwards")
    latency_repeat: int = Field(10, ge=1, description="latency: timed forwards per op (median)")

    @property
    def active(self) -> bool:
        """Whether the penalty is on."""
        return self.target is not None and self.weight > 0


@dataclass
class CostTable:
    """Exact per-candidate costs of a space's choice edges, summed over a template's instances.

    `rows[t]` is `(n_choice_edges, n_candidates)` in `choice_edge_ids` order (float64);
    `not_none[t]` marks the candidates other than `none`; `groups[t]` lists each node's choice
    rows as `(start, end, keep)`."""

    metric: str
    fixed: float
    rows: dict[str, Tensor]
    not_none: dict[str, Tensor]
    groups: dict[str, list[tuple[int, int, int | None]]]
    edge_ids: dict[str, list[str]] = field(default_factory=dict)

    def keep_share(self, template: str) -> Tensor:
        """q_e: 1 for an edge of a node without `keep`, k / n in a node keeping k of n."""
        q = torch.ones(self.rows[template].shape[0], dtype=torch.float64)
        for s, e, keep in self.groups[template]:
            if keep is not None:
                q[s:e] = min(keep, e - s) / (e - s)
        return q


# ------------------------------------------------------------------------------ the table

def _pipelines(network: Network, rows: Mapping[str, Mapping[str, int]]) -> Iterator[
        tuple[Pipeline, tuple[str, int, int] | None]]:
    """Every expanded op of `network` with where its cost goes: `(template, row, candidate)` for
    a choice edge's candidate, None for a fixed part."""
    for p in network.stems:
        yield p, None
    for cell in network.cells:
        for i in cell.inputs:
            if i.op is not None:
                yield i.op, None
        for n in cell.nodes:
            for e in n.edges:
                if isinstance(e.op, Mixed):
                    row = rows[cell.template][e.id]
                    for j, c in enumerate(e.op.candidates):
                        yield c, (cell.template, row, j)
                else:
                    yield e.op, None
            if n.proj is not None:
                yield n.proj, None
    yield network.head, None


def cost_table(space: Model, metric: Metric = "macs", *,
               measure: Callable[[Pipeline], float] | None = None) -> CostTable:
    """The exact per-candidate cost table of `space` (a search space fitted to its data) in its
    derived form (affine batch norms). `measure` gives an op's cost for `latency`
    (`LatencyTable.measure`); `macs` and `params` come from `nasc.analysis.cost`."""
    from nasc.analysis.cost import pipeline_cost
    from nasc.analysis.elaborate import elaborate
    from nasc.passes.affine_bn import set_affine

    if metric == "latency" and measure is None:
        raise ConfigError("the latency cost needs measured op latencies", key="search.cost.metric",
                          hint="the searches build the table (LatencyTable) on their device")
    network = elaborate(set_affine(space, True))
    ids = {c.name: choice_edge_ids(c) for c in space.cells}
    index = {t: {eid: r for r, eid in enumerate(v)} for t, v in ids.items() if v}
    rows: dict[str, Tensor] = {}
    not_none: dict[str, Tensor] = {}
    groups: dict[str, list[tuple[int, int, int | None]]] = {}
    for cell in space.cells:
        if not ids[cell.name]:
            continue
        cands = [e.op.candidates for n in cell.nodes for e in n.edges  # type: ignore[union-attr]
                 if e.op.kind == "choice"]
        width = max(len(c) for c in cands)
        rows[cell.name] = torch.zeros(len(cands), width, dtype=torch.float64)
        not_none[cell.name] = torch.tensor(
            [[j < len(c) and c[j].op not in NONE_OPS for j in range(width)] for c in cands])
        start, grp = 0, []
        for n in cell.nodes:
            k = sum(1 for e in n.edges if e.op.kind == "choice")
            if k:
                grp.append((start, start + k, n.keep))
                start += k
        groups[cell.name] = grp

    def value(p: Pipeline) -> float:
        if measure is not None:
            return float(measure(p))
        params, macs, _ = pipeline_cost(p)
        return float(macs if metric == "macs" else params)

    fixed = 0.0
    for p, where in _pipelines(network, index):
        if where is None:
            fixed += value(p)
        else:
            t, r, j = where
            rows[t][r, j] += value(p)
    return CostTable(metric, fixed, rows, not_none, groups, ids)


# ------------------------------------------------------------------------------ E[cost]

def expected_cost(table: CostTable, probs: Mapping[str, Tensor], *,
                  kept: Mapping[str, Tensor] | None = None) -> Tensor:
    """E[cost] of the derived network (see the module docstring): `probs[t]` are the mixing
    probabilities `(n_choice_edges, n_candidates)` of template t (e.g. softmax(alpha));
    `kept[t]` (optional) a 0/1 vector of the edges the derived network keeps, else q_e = k/n.
    A float64 scalar on `probs`' device, differentiable in `probs`."""
    total: Tensor | None = None
    for t, cost in table.rows.items():
        p = probs[t]
        dev = p.device
        mask = table.not_none[t].to(dev)
        pm = p.to(torch.float64) * mask
        # renormalised over the candidates the derivation can pick; a row of `none` only costs 0
        pm = pm / pm.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
        q = (kept[t].to(dev, torch.float64) if kept is not None
             else table.keep_share(t).to(dev))
        term = (q * (pm * cost.to(dev)).sum(dim=-1)).sum()
        total = term if total is None else total + term
    fixed = torch.tensor(table.fixed, dtype=torch.float64)
    return fixed if total is None else total + fixed


def derived_choices(space: Model, final: Model) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """One-hot probabilities and the kept-edge mask of the derived network `final` (from
    `space` by `finalize`): what makes `expected_cost` exact for it. An edge is matched to its
    choice edge by node and input (the rules keep edges in order)."""
    probs: dict[str, Tensor] = {}
    kept: dict[str, Tensor] = {}
    for cell in space.cells:
        ids = choice_edge_ids(cell)
        if not ids:
            continue
        fcell = final.cell(cell.name)
        assert fcell is not None
        width = max(len(e.op.candidates) for n in cell.nodes for e in n.edges  # type: ignore[union-attr]
                    if e.op.kind == "choice")
        p = torch.zeros(len(ids), width, dtype=torch.float64)
        k = torch.zeros(len(ids), dtype=torch.float64)
        row = 0
        for node, fnode in zip(cell.nodes, fcell.nodes):
            start = 0
            for e in node.edges:
                match = None
                for i in range(start, len(fnode.edges)):
                    if fnode.edges[i].input == e.input:
                        match, start = fnode.edges[i], i + 1
                        break
                if e.op.kind != "choice":
                    continue
                if match is not None:
                    names = [c.op for c in e.op.candidates]  # type: ignore[union-attr]
                    p[row, names.index(match.op.op)] = 1.0  # type: ignore[union-attr]
                    k[row] = 1.0
                else:
                    p[row, 0] = 1.0  # dropped: any row will do, q = 0
                row += 1
        probs[cell.name], kept[cell.name] = p, k
    return probs, kept


# ------------------------------------------------------------------------------ the penalty

class CostPenalty:
    """`weight * relu(E[cost] / target - 1)` of a supernet's current alphas (softmax per row)."""

    def __init__(self, table: CostTable, target: float, weight: float) -> None:
        self.table = table
        self.target = float(target)
        self.weight = float(weight)

    def expected(self, arch: Mapping[str, Tensor]) -> Tensor:
        """E[cost] under softmax(arch[t]) (differentiable in the alphas)."""
        return expected_cost(self.table, {t: F.softmax(a, dim=-1) for t, a in arch.items()
                                          if t in self.table.rows})

    def __call__(self, arch: Mapping[str, Tensor]) -> Tensor:
        e = self.expected(arch)
        return (self.weight * F.relu(e / self.target - 1.0)).to(torch.float32)


# ------------------------------------------------------------------------------ latency

class LatencyTable:
    """Measured eval-forward latency (ms) of expanded ops on one device, keyed by the op's
    primitives, parameters and input shape; cached in a JSON file (the run directory's)."""

    def __init__(self, path: Path | None, *, device: torch.device | str, batch: int = 1,
                 repeat: int = 10, warmup: int = 2) -> None:
        self.path = path
        self.device = str(device)
        self.batch, self.repeat, self.warmup = batch, repeat, warmup
        self.entries: dict[str, float] = {}
        if path is not None and path.exists():
            data = json.loads(path.read_text())
            if (data.get("device"), data.get("batch")) == (self.device, batch):
                self.entries = {str(k): float(v) for k, v in data.get("ms", {}).items()}
        self.measured = 0  # ops timed by this instance (the rest came from the cache)

    @staticmethod
    def key(p: Pipeline) -> str:
        """The cache key of an expanded op: its primitives with their parameters, and the input."""
        calls = [f"{c.op}{c.params.model_dump(mode='json') if hasattr(c.params, 'model_dump') else c.params}"
                 for c in p.calls]
        return f"{list(p.in_shape)}:{'|'.join(calls)}"

    def measure(self, p: Pipeline) -> float:
        """The median eval-forward time of `p` (ms per batch), measured once per key."""
        k = self.key(p)
        if k not in self.entries:
            if not p.calls:
                self.entries[k] = 0.0
            else:
                from nasc.lower.latency import measure_latency
                from nasc.lower.modules import build_pipeline

                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(0)
                    module = build_pipeline(p)
                lat = measure_latency(module, tuple(p.in_shape), batch_size=self.batch,
                                      device=self.device, warmup=self.warmup, repeat=self.repeat)
                self.entries[k] = lat.median_ms
                self.measured += 1
        return self.entries[k]

    def save(self) -> None:
        """Write the cache (no-op without a path)."""
        if self.path is None:
            return
        from nasc.atomic import atomic_write_text

        atomic_write_text(self.path, json.dumps(
            {"device": self.device, "batch": self.batch, "repeat": self.repeat,
             "ms": dict(sorted(self.entries.items()))}, indent=1) + "\n")


def build_penalty(section: CostSection, space: Model, *, device: torch.device | str,
                  run_root: Path | None) -> tuple[CostPenalty, dict[str, Any]]:
    """The penalty `search.cost` asks for on `space` (fitted to the data), and a summary for the
    run log (metric, target, weight, fixed cost, the cost range of each template's rows)."""
    assert section.target is not None
    measure = None
    info: dict[str, Any] = {}
    if section.metric == "latency":
        lat = LatencyTable(run_root / LATENCY_TABLE if run_root is not None else None,
                           device=device, batch=section.latency_batch,
                           repeat=section.latency_repeat)
        measure = lat.measure
    table = cost_table(space, section.metric, measure=measure)
    if section.metric == "latency":
        lat.save()
        info["latency_ops"] = {"measured": lat.measured, "cached": len(lat.entries) - lat.measured}
    info.update({"metric": section.metric, "target": section.target, "weight": section.weight,
                 "fixed": table.fixed,
                 "form": "weight * relu(E[cost] / target - 1)"})
    return CostPenalty(table, section.target, section.weight), info
