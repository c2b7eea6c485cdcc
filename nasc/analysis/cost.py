"""The cost model of an elaborated network: parameters, multiply-adds, activation memory.

All figures are exact for the module `nasc.lower` builds from the same `Network`:

- `params`: trainable parameters of everything except the aux head (stems, cells, head);
  `params_with_aux` adds the aux head. Batch-norm running statistics are buffers, not counted.
- `macs`: multiply-adds of one batch-1 forward in eval mode (the aux head does not run), counted
  as `torch.utils.flop_counter.FlopCounterMode` counts them (its total / 2): convolutions and
  linear layers only, biases free; batch norm, pooling, ReLU, `zero` (`none`) and sums cost 0.
  A choice edge counts every candidate (a supernet runs them all). `macs_with_aux` adds the aux
  head (a training forward).
- `activation_bytes`: float32 bytes (4 per element) of every tensor one batch-1 eval forward
  produces, i.e. the activation memory a training step would keep for backward:
    the input; the output of every primitive except those that alias their input (`identity`);
    for a choice edge the outputs of all candidates plus one tensor for the mixed result; the
    combined output of every node with two or more edges (`sum`/`concat`; for `proj` the concat
    plus the 1x1 conv and bn outputs); the combined output of a cell with two or more output
    states. A single-input combine produces no new tensor. The aux head is not counted.
  Per cell it is the tensors produced inside that cell (preprocessing, edges, combines).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from math import prod
from typing import Any

from nasc.analysis.network import CellInst, Mixed, Network, Pipeline
from nasc.limits import check_memory, current as current_limits
from nasc.ops.registry import Shape, get_primitive

BYTES_PER_ELEMENT = 4  # float32


@dataclass(frozen=True)
class PartCost:
    """The cost of one part of the network (stems, head, aux head)."""

    params: int
    macs: int
    activation_bytes: int


@dataclass(frozen=True)
class CellCost:
    """The cost of one cell instance."""

    index: int
    template: str
    reduction: bool
    params: int
    macs: int
    activation_bytes: int
    out_shape: Shape


@dataclass(frozen=True)
class CostReport:
    """Per-part and total costs of a network (see the module docstring for the definitions)."""

    input_shape: Shape
    classes: int
    stems: PartCost
    cells: tuple[CellCost, ...]
    head: PartCost
    aux: PartCost | None
    params: int
    params_with_aux: int
    macs: int
    macs_with_aux: int
    activation_bytes: int

    def as_dict(self) -> dict[str, Any]:
        """Plain ints, lists and dicts (for `--json`)."""
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["cells"] = [{**c, "out_shape": list(c["out_shape"])} for c in d["cells"]]
        return d


def _bytes(shape: Shape) -> int:
    return prod(shape) * BYTES_PER_ELEMENT


class _Counter:
    """Sums costs of pipelines, memoised on the pipeline object (elaboration shares them)."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[int, int, int]] = {}

    def pipeline(self, p: Pipeline) -> tuple[int, int, int]:
        hit = self._memo.get(id(p))
        if hit is not None:
            return hit
        params = macs = act = 0
        for c in p.calls:
            prim = get_primitive(c.op)
            params += prim.param_count(c.params, c.in_shapes)
            macs += prim.macs(c.params, c.in_shapes, c.out_shape)
            if not prim.aliases_input:
                act += _bytes(c.out_shape)
        self._memo[id(p)] = hit = (params, macs, act)
        return hit

    def op(self, op: Pipeline | Mixed) -> tuple[int, int, int]:
        if isinstance(op, Pipeline):
            return self.pipeline(op)
        parts = [self.pipeline(c) for c in op.candidates]
        return (sum(p[0] for p in parts), sum(p[1] for p in parts),
                sum(p[2] for p in parts) + _bytes(op.out_shape))

    def part(self, ps: tuple[Pipeline, ...]) -> PartCost:
        parts = [self.pipeline(p) for p in ps]
        return PartCost(sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts))

    def cell(self, c: CellInst) -> CellCost:
        params = macs = act = 0

        def add(t: tuple[int, int, int]) -> None:
            nonlocal params, macs, act
            params, macs, act = params + t[0], macs + t[1], act + t[2]

        for i in c.inputs:
            if i.op is not None:
                add(self.pipeline(i.op))
        for n in c.nodes:
            for e in n.edges:
                add(self.op(e.op))
            if len(n.edges) >= 2:
                cat = n.proj.in_shape if n.proj is not None else n.out_shape
                act += _bytes(cat)
            if n.proj is not None:
                add(self.pipeline(n.proj))
        if len(c.output) >= 2:
            act += _bytes(c.out_shape)
        return CellCost(c.index, c.template, c.reduction, params, macs, act, c.out_shape)


def pipeline_cost(p: Pipeline) -> tuple[int, int, int]:
    """`(params, macs, activation_bytes)` of one expanded op (a candidate of a choice edge, say),
    counted as `cost` counts it inside a network."""
    return _Counter().pipeline(p)


def cost(network: Network) -> CostReport:
    """Parameters, multiply-adds and activation memory of `network`, per cell and in total."""
    k = _Counter()
    stems = k.part(network.stems)
    cells = tuple(k.cell(c) for c in network.cells)
    head = k.part((network.head,))
    aux = k.part((network.aux,)) if network.aux is not None else None
    params = stems.params + sum(c.params for c in cells) + head.params
    macs = stems.macs + sum(c.macs for c in cells) + head.macs
    act = (_bytes(network.input_shape) + stems.activation_bytes + sum(c.activation_bytes for c in cells)
           + head.activation_bytes)
    return CostReport(
        input_shape=network.input_shape, classes=network.classes, stems=stems, cells=cells, head=head, aux=aux,
        params=params, params_with_aux=params + (aux.params if aux else 0),
        macs=macs, macs_with_aux=macs + (aux.macs if aux else 0), activation_bytes=act)


def memory_estimate(report: CostReport, *, batch: int = 1, training: bool = False) -> int:
    """Bytes a module of this network needs: its float32 weights and one batch-1 eval forward's
    activations; training (`batch` images a step) keeps the weights, their gradients and two
    optimizer moments, plus the activations of every image of the batch. A lower bound on
    purpose (in-place ops and freed gradients vary): the limit refuses the absurd, not the tight."""
    weights = report.params_with_aux * BYTES_PER_ELEMENT
    if not training:
        return weights + report.activation_bytes
    return 4 * weights + batch * report.activation_bytes


def check_memory_limit(network: Network, *, batch: int = 1, training: bool = False,
                       report: CostReport | None = None, key: str | None = None) -> CostReport:
    """Refuse (`ValidationError` at the network's span, with the limit and how to raise it) a
    network whose analytic memory figure is over the limit in force (`nasc.limits`), before any
    module is built; returns the cost report."""
    report = report if report is not None else cost(network)
    need = memory_estimate(report, batch=batch, training=training)
    lim = current_limits()
    if need > lim.max_memory:
        from nasc.limits import format_size

        act = format_size(report.activation_bytes * (batch if training else 1))
        detail = (f"{_count(report.params_with_aux)} parameters, {act} of activations"
                  + (f" for a batch of {batch}" if training else " per image"))
        check_memory(need, f"`{network.model.name}`" + (" (training)" if training else ""),
                     span=None if key else network.model.span, key=key, detail=detail)
    return report


def _count(n: int) -> str:
    return f"{n:,}" if n < 10**15 else f"~10^{len(str(n)) - 1}"

