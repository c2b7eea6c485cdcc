"""The elaborated network: the IR with every composite expanded, every expression evaluated and
every tensor shape inferred, one record per cell *instance*. Torch-free.

`nasc.analysis.elaborate.elaborate(model)` builds it; shape inference, cost analysis, lowering,
visualisation and the search transforms read it. Global states are numbered in order: the stem
outputs first, then one per cell instance; `InputInst.source` indexes that list.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from nasc.ir.model import Model, OpCall
from nasc.ops.registry import Shape
from nasc.source import Span


@dataclass(frozen=True)
class PrimCall:
    """One primitive application with validated params (`params` is the primitive's Params model)."""

    op: str
    params: Any
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    path: str  # readable position inside the expansion, e.g. "sep_conv_3x3/sep_conv/2:conv"
    span: Span | None = None


@dataclass(frozen=True)
class Pipeline:
    """A fixed op (primitive or composite) expanded to the primitives applied in order."""

    call: OpCall  # the IR call this came from
    calls: tuple[PrimCall, ...]
    in_shape: Shape
    out_shape: Shape


@dataclass(frozen=True)
class Mixed:
    """A `choice` edge: every candidate expanded with the same context. Candidate order is the IR's."""

    names: tuple[str, ...]  # candidate op names, e.g. ("none", "max_pool_3x3", ...)
    candidates: tuple[Pipeline, ...]
    in_shape: Shape
    out_shape: Shape


@dataclass(frozen=True)
class EdgeInst:
    """One edge of one cell instance."""

    id: str  # template id, e.g. "normal.n2.e0" (keys architecture weights)
    instance_id: str  # e.g. "cells.3.n2.e0" (keys modules)
    input: str
    op: Pipeline | Mixed
    drop_path: bool
    in_shape: Shape
    out_shape: Shape
    span: Span | None = None


@dataclass(frozen=True)
class NodeInst:
    """One node of one cell instance; `proj` is the 1x1 projection of a `proj` combine."""

    name: str
    edges: tuple[EdgeInst, ...]
    combine: Literal["sum", "concat", "proj"]
    keep: int | None
    out_shape: Shape
    proj: Pipeline | None = None
    span: Span | None = None


@dataclass(frozen=True)
class InputInst:
    """A cell input: global state `source` through an optional preprocessing op."""

    name: str
    source: int
    op: Pipeline | None
    in_shape: Shape
    out_shape: Shape


@dataclass(frozen=True)
class CellInst:
    """One cell instance of the macro skeleton."""

    index: int
    template: str
    reduction: bool
    channels: int  # the cell's C (C_out of its edges)
    inputs: tuple[InputInst, ...]
    nodes: tuple[NodeInst, ...]
    output: tuple[str, ...]
    output_combine: Literal["concat", "sum"]
    out_shape: Shape


@dataclass(frozen=True)
class Network:
    """The whole elaborated network."""

    model: Model
    params: dict[str, Any]  # model param values after overrides
    input_shape: Shape
    classes: int
    stems: tuple[Pipeline, ...]
    cells: tuple[CellInst, ...]
    head: Pipeline
    aux: Pipeline | None = None
    aux_after: int | None = None
    aux_weight: float = 0.0
    state_shapes: tuple[Shape, ...] = field(default=())  # global states: stems then cells
