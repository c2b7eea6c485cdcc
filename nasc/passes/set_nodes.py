"""`nodes`: keep the first k intermediate nodes of every cell template (a smaller cell).

DARTS-style cells have a fixed number of intermediate nodes (4 in DARTS); a macro sweep or an
ablation varies it. Nodes are kept in source order, so a kept node only reads cell inputs and
kept nodes. The output list keeps its states that survive (cell inputs and kept nodes); when none
survives, the last kept node becomes the output. A template with fewer than k nodes is refused
with an error pointing at the template.
"""
from __future__ import annotations

from pydantic import Field

from nasc.errors import PassError
from nasc.ir.model import Cell, Model
from nasc.passes.registry import CompilerPass


def keep_nodes(cell: Cell, count: int) -> Cell:
    """`cell` with only its first `count` nodes and the output states that survive."""
    if count < 1:
        raise PassError(f"cell `{cell.name}` must keep at least one node, not {count}", cell.span,
                        hint="pass `nodes` a count of 1 or more")
    if count > len(cell.nodes):
        raise PassError(f"cell `{cell.name}` has {len(cell.nodes)} node(s); cannot keep {count}", cell.span,
                        hint=f"use a count between 1 and {len(cell.nodes)}")
    if count == len(cell.nodes):
        return cell
    nodes = cell.nodes[:count]
    alive = {i.name for i in cell.inputs} | {n.name for n in nodes}
    output = tuple(s for s in cell.output if s in alive) or (nodes[-1].name,)
    return cell.model_copy(update={"nodes": nodes, "output": output})


def set_nodes(model: Model, count: int) -> Model:
    """Return `model` with every cell template cut to its first `count` intermediate nodes."""
    cells = tuple(keep_nodes(c, count) for c in model.cells)
    return model.model_copy(update={"cells": cells})


class SetNodes(CompilerPass):
    """Keep the first `count` intermediate nodes of every cell template."""

    name = "nodes"
    summary = "keep the first k intermediate nodes of every cell template"

    count: int = Field(ge=1, description="intermediate nodes each cell template keeps")

    def run(self, model: Model) -> Model:
        return set_nodes(model, self.count)
