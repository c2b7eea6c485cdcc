"""Small read-only queries over the IR shared by several consumers."""
from __future__ import annotations

from nasc.ir.ids import edge_id
from nasc.ir.model import Cell, Choice, Model


def choice_edge_ids(cell: Cell) -> list[str]:
    """Template ids of the `choice` edges of `cell`, in node order then edge order.

    This order is the row order of a cell template's architecture-weight matrix
    (`(len(ids), n_candidates)`), shared by DARTS, lowering and finalization.
    """
    return [edge_id(cell.name, n.name, i)
            for n in cell.nodes for i, e in enumerate(n.edges) if isinstance(e.op, Choice)]


def choice_shapes(model: Model) -> dict[str, tuple[int, int]]:
    """Per cell template with choices: (number of choice edges, number of candidates).

    All choice edges of one template must have the same number of candidates (checked by verify)
    so that one matrix holds the template's architecture weights.
    """
    out: dict[str, tuple[int, int]] = {}
    for cell in model.cells:
        ns = [len(e.op.candidates) for n in cell.nodes for e in n.edges if isinstance(e.op, Choice)]
        if ns:
            out[cell.name] = (len(ns), max(ns))
    return out


def is_search_space(model: Model) -> bool:
    """Whether any edge of the model is a `choice` (a space to search, not a network to train)."""
    return any(isinstance(e.op, Choice) for c in model.cells for n in c.nodes for e in n.edges)
