"""Stable, readable ids for IR locations.

Template ids (shared by every cell instance of a type) key architecture weights:
`normal.n2.e0`. Instance ids key modules and state_dict entries: `cells.3.n2.e0`.
"""
from __future__ import annotations


def edge_id(cell: str, node: str, index: int) -> str:
    """Template id of edge `index` of node `node` in cell template `cell`."""
    return f"{cell}.{node}.e{index}"


def instance_prefix(cell_index: int) -> str:
    """Module-name prefix of cell instance `cell_index`."""
    return f"cells.{cell_index}"


def instance_edge_id(cell_index: int, node: str, index: int) -> str:
    """Instance id of an edge: `cells.3.n2.e0`."""
    return f"cells.{cell_index}.{node}.e{index}"
