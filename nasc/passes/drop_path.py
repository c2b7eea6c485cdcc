"""`drop-path`: mark the cell edges that drop path applies to (`Edge.drop_path = True`).

DARTS' rule (the default): every edge whose op is not the identity. Whether an op is the identity
can depend on the call context (`skip_connect` is `identity` at stride 1 but `factorized_reduce`
at stride 2), so the rule looks at the elaborated network: a template edge is marked when any of its
instances expands to something other than identity primitives. With `ops`, exactly the edges whose
op has one of those names are marked instead. Choice edges are marked only with `choices=true`
(DARTS does not drop paths during search). Marks already in the source are kept.
"""
from __future__ import annotations

from pydantic import Field

from nasc.ir.ids import edge_id
from nasc.ir.model import Cell, Choice, Model, OpCall
from nasc.ops.registry import get_primitive
from nasc.passes.registry import CompilerPass


def non_identity_edges(model: Model) -> set[str]:
    """Template ids of fixed edges that expand to a non-identity op in some cell instance."""
    from nasc.analysis.elaborate import elaborate
    from nasc.analysis.network import Pipeline

    out: set[str] = set()
    for cell in elaborate(model).cells:
        for node in cell.nodes:
            for e in node.edges:
                if isinstance(e.op, Pipeline) and not all(get_primitive(c.op).aliases_input for c in e.op.calls):
                    out.add(e.id)
    return out


def _mark(cell: Cell, chosen: set[str]) -> Cell:
    nodes = []
    for node in cell.nodes:
        edges = tuple(
            e.model_copy(update={"drop_path": True}) if edge_id(cell.name, node.name, i) in chosen else e
            for i, e in enumerate(node.edges))
        nodes.append(node.model_copy(update={"edges": edges}))
    return cell.model_copy(update={"nodes": tuple(nodes)})


def mark_drop_path(model: Model, ops: list[str] | None = None, choices: bool = False) -> Model:
    """Return `model` with drop path marked on the DARTS edges (or those with an op in `ops`)."""
    chosen: set[str] = set() if ops is not None else non_identity_edges(model)
    for cell in model.cells:
        for node in cell.nodes:
            for i, e in enumerate(node.edges):
                eid = edge_id(cell.name, node.name, i)
                if isinstance(e.op, Choice):
                    if choices:
                        chosen.add(eid)
                    else:
                        chosen.discard(eid)
                elif ops is not None and isinstance(e.op, OpCall) and e.op.op in ops:
                    chosen.add(eid)
    return model.model_copy(update={"cells": tuple(_mark(c, chosen) for c in model.cells)})


class DropPath(CompilerPass):
    """Mark edges for drop path: every non-identity edge (DARTS), or those whose op is in `ops`."""

    name = "drop-path"
    summary = "mark non-identity cell edges for drop path (DARTS)"

    ops: list[str] | None = Field(default=None, description="mark only edges calling these ops")
    choices: bool = Field(default=False, description="also mark choice edges")

    def run(self, model: Model) -> Model:
        return mark_drop_path(model, self.ops, self.choices)
