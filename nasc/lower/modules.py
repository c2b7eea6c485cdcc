"""The torch modules a lowered network is made of: pipelines, edges, nodes and cells.

Each is built from the elaborated network (`nasc.analysis.network`) once; its forward runs a plan
of plain ints and flags computed at build time, so the hot path does no dict lookups and no string
work. Child module names are the IR ids: a cell instance holds its input preprocessing under the
input names (`s0`) and its nodes under the node names (`n2`); a node holds its edges as `e0`,
`e1`, ... and a `proj` combine as `proj`; an edge holds its op as `op`. Hence state_dict names such
as `cells.3.n2.e0.op.4.weight`.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from nasc.analysis.network import CellInst, Mixed, NodeInst, Pipeline
from nasc.errors import ValidationError
from nasc.ops.registry import get_primitive

COMBINE_SUM, COMBINE_CONCAT, COMBINE_PROJ = 0, 1, 2
_COMBINE = {"sum": COMBINE_SUM, "concat": COMBINE_CONCAT, "proj": COMBINE_PROJ}


def build_pipeline(p: Pipeline) -> nn.Module:
    """The module of a fixed op: its primitives' modules in order (`nn.Sequential`), the module
    itself for a single primitive, `nn.Identity` for an empty expansion."""
    mods = [get_primitive(c.op).build(c.params, c.in_shapes) for c in p.calls]
    if not mods:
        return nn.Identity()
    return mods[0] if len(mods) == 1 else nn.Sequential(*mods)


def build_mixed(m: Mixed) -> nn.Module:
    """The mixed op of a choice edge (`nasc.lower.mixed.MixedOp`), candidates in IR order."""
    from nasc.lower.mixed import MixedOp

    return MixedOp([build_pipeline(c) for c in m.candidates], list(m.names), out_channels=m.out_shape[0])


def drop_path(x: Tensor, drop_prob: float) -> Tensor:
    """DARTS drop path: zero whole samples with probability `drop_prob`, scale the rest by
    1/keep_prob. The mask is drawn exactly as the reference draws it (one Bernoulli per sample)."""
    keep_prob = 1.0 - drop_prob
    mask = torch.empty((x.shape[0], 1, 1, 1), dtype=x.dtype, device=x.device).bernoulli_(keep_prob)
    return x.div(keep_prob).mul(mask)


class Edge(nn.Module):
    """A fixed edge: `op` applied to state `src` of the cell, with drop path when marked."""

    def __init__(self, op: nn.Module, src: int, drop: bool) -> None:
        super().__init__()
        self.op = op
        self.src = src
        self.drop = drop

    def forward(self, x: Tensor, weights: Tensor | None, drop_prob: float) -> Tensor:
        """`weights` is ignored (a fixed edge has no architecture weights)."""
        y = self.op(x)
        if self.drop and drop_prob > 0.0:
            y = drop_path(y, drop_prob)
        return y


class MixedEdge(Edge):
    """A choice edge: the mixed op fed row `row` of its cell template's architecture weights."""

    def __init__(self, op: nn.Module, src: int, drop: bool, row: int) -> None:
        super().__init__(op, src, drop)
        self.row = row

    def forward(self, x: Tensor, weights: Tensor | None, drop_prob: float) -> Tensor:
        if weights is None:
            raise ValidationError("a search network needs architecture weights",
                                  hint="call the module as net(x, arch={template: weights})")
        y = self.op(x, weights[self.row])
        if self.drop and drop_prob > 0.0:
            y = drop_path(y, drop_prob)
        return y


class NodeModule(nn.Module):
    """A cell node: applies its edges to earlier cell states and combines the results."""

    def __init__(self, edges: Sequence[Edge], combine: str, proj: nn.Module | None) -> None:
        super().__init__()
        for i, e in enumerate(edges):
            self.add_module(f"e{i}", e)
        if proj is not None:
            self.proj = proj
        self._edges: list[Edge] = list(edges)
        self._combine = _COMBINE[combine]

    def forward(self, states: list[Tensor], weights: Tensor | None, drop_prob: float) -> Tensor:
        ys = [e(states[e.src], weights, drop_prob) for e in self._edges]
        if len(ys) == 1 and self._combine != COMBINE_PROJ:
            return ys[0]
        if self._combine == COMBINE_SUM:
            out = ys[0]
            for y in ys[1:]:
                out = out + y
            return out
        cat = torch.cat(ys, dim=1)
        return self.proj(cat) if self._combine == COMBINE_PROJ else cat


class CellModule(nn.Module):
    """One cell instance: preprocesses its inputs, runs its nodes in order, combines the outputs."""

    def __init__(self, cell: CellInst, choice_rows: dict[str, int]) -> None:
        super().__init__()
        self.template = cell.template
        self.reduction = cell.reduction
        index: dict[str, int] = {}
        self._pre: list[nn.Module | None] = []
        for inp in cell.inputs:
            index[inp.name] = len(index)
            mod = build_pipeline(inp.op) if inp.op is not None else None
            if mod is not None:
                self._add(inp.name, mod)
            self._pre.append(mod)
        self._nodes: list[NodeModule] = []
        for node in cell.nodes:
            mod = _build_node(node, index, choice_rows)
            self._add(node.name, mod)
            self._nodes.append(mod)
            index[node.name] = len(index)
        self._out = [index[s] for s in cell.output]
        self._out_sum = cell.output_combine == "sum"

    def _add(self, name: str, mod: nn.Module) -> None:
        # the state name becomes an attribute: it must not shadow a module attribute (`forward`)
        if hasattr(self, name) and name not in self._modules:
            raise ValidationError(f"state name `{name}` clashes with a torch module attribute",
                                  hint="rename the cell input or node")
        self.add_module(name, mod)

    def forward(self, inputs: list[Tensor], weights: Tensor | None, drop_prob: float) -> Tensor:
        states = [x if pre is None else pre(x) for pre, x in zip(self._pre, inputs)]
        for node in self._nodes:
            states.append(node(states, weights, drop_prob))
        outs = [states[i] for i in self._out]
        if len(outs) == 1:
            return outs[0]
        if self._out_sum:
            out = outs[0]
            for y in outs[1:]:
                out = out + y
            return out
        return torch.cat(outs, dim=1)


def _build_node(node: NodeInst, index: dict[str, int], choice_rows: dict[str, int]) -> NodeModule:
    edges: list[Edge] = []
    for e in node.edges:
        src = index[e.input]
        if isinstance(e.op, Mixed):
            edges.append(MixedEdge(build_mixed(e.op), src, e.drop_path, choice_rows[e.id]))
        else:
            edges.append(Edge(build_pipeline(e.op), src, e.drop_path))
    proj = build_pipeline(node.proj) if node.proj is not None else None
    return NodeModule(edges, node.combine, proj)
