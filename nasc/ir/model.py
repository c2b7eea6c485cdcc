"""The nasc IR: a small closed vocabulary of frozen pydantic models.

    Model ── params, ops (composite op definitions), input shape, stems, cells (templates),
             layout (how many cells, which are reductions, widths), head, aux head
    Cell  ── inputs (each with an optional preprocessing op), nodes, output states
    Node  ── edges (an input state and an op), combine (sum | concat | proj), keep (top-k, search)
    Edge  ── input state name + OpCall (fixed op) | Choice (candidate ops: a search space)

Every container in the IR is immutable: sequences are tuples, op arguments a `FrozenDict`.

Conventions every consumer relies on (see `nasc.analysis.elaborate`):
- An op call is evaluated in an environment of the model params plus the context names
  `C_in`, `H_in`, `W_in` (the input shape), `C_out` (the width the call must produce: the cell
  width for cell edges and inputs), `stride` and `affine`. Explicit call args override them.
- In a reduction cell every edge that reads a cell input gets `stride = 2`; all other edges 1.
  A cell input's preprocessing op gets `stride = H(input) // H(last input)` (DARTS'
  FactorizedReduce after a reduction cell).
- The width starts at `layout.channels` and is multiplied by `layout.growth` (default
  `nasc.ir.macro.DEFAULT_GROWTH`) at each reduction cell.
- Cell `i` reads the outputs of the previous `len(inputs)` cells; before the first cell these are
  the stem outputs (the last stems, repeating the last when there are fewer stems than inputs).
- Cell edges get `affine = model.affine` (search builds non-affine BN); stems and heads `true`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, Union

from pydantic import Field

from nasc.frozen import FrozenDict
from nasc.ir.base import IRNode
from nasc.ir.expr import Expr
from nasc.ir.macro import DEFAULT_AUX_WEIGHT, DEFAULT_GROWTH

IR_VERSION = 1
LOCAL_MODULE = "local"


class OpCall(IRNode):
    """A call of a primitive or composite op with keyword arguments (expressions)."""

    kind: Literal["op"] = "op"
    op: str
    args: FrozenDict[str, Expr] = Field(default_factory=FrozenDict)


class Choice(IRNode):
    """A choice among candidate ops: one edge of a search space. `name` is the alias it was
    written with (`choice darts = [...]`), kept so the printer can print the alias back."""

    kind: Literal["choice"] = "choice"
    candidates: tuple[OpCall, ...]
    name: str | None = None


EdgeOp = Annotated[Union[OpCall, Choice], Field(discriminator="kind")]


class Edge(IRNode):
    """An edge into a node: `op(input)`. `drop_path` marks edges the drop-path pass applies to."""

    input: str
    op: EdgeOp
    drop_path: bool = False


class Node(IRNode):
    """A cell node: combines its incoming edges. `keep=k` (search spaces) means finalization keeps
    the k strongest incoming edges."""

    name: str
    edges: tuple[Edge, ...]
    combine: Literal["sum", "concat", "proj"] = "sum"
    keep: int | None = None


class CellInput(IRNode):
    """A cell input state with an optional preprocessing op (e.g. `preprocess`)."""

    name: str
    op: OpCall | None = None


class Cell(IRNode):
    """A cell template: a DAG of nodes over its inputs; `output` states are combined."""

    name: str
    inputs: tuple[CellInput, ...]
    nodes: tuple[Node, ...]
    output: tuple[str, ...]
    output_combine: Literal["concat", "sum"] = "concat"


class OpParam(IRNode):
    """A declared parameter of a composite op; `default=None` means required."""

    name: str
    default: Expr | None = None


class IfStmt(IRNode):
    """`if cond { ... } else { ... }` inside a composite op body."""

    kind: Literal["if"] = "if"
    cond: Expr
    then: tuple["Stmt", ...]
    orelse: tuple["Stmt", ...] = ()


Stmt = Annotated[Union[OpCall, IfStmt], Field(discriminator="kind")]


class OpDef(IRNode):
    """A composite op: a pipeline of statements applied in order. `module` says where it was
    defined (`local` for the model's own file, else the import name, e.g. `std`)."""

    name: str
    params: tuple[OpParam, ...] = ()
    body: tuple[Stmt, ...]
    module: str = LOCAL_MODULE
    doc: str | None = None


class Param(IRNode):
    """A named model parameter with its default; the command line can override it."""

    name: str
    default: bool | int | float | str


class Layout(IRNode):
    """The macro skeleton: `cells` cell instances; positions in `reductions` use the `reduce` cell
    template (None = the DARTS rule, `nasc.ir.macro.default_reductions`), others `normal`;
    `channels` is the initial cell width, multiplied by `growth` at every reduction."""

    cells: Expr
    channels: Expr
    normal: str = "normal"
    reduce: str = "reduce"
    reductions: tuple[Expr, ...] | None = None
    growth: Expr = DEFAULT_GROWTH


class Head(IRNode):
    """The classifier head (e.g. `classifier`): called with `C_out = classes`."""

    op: OpCall


class AuxHead(IRNode):
    """An auxiliary tower reading the output of cell `after`, weighted `weight` in the loss.
    Active in training only."""

    op: OpCall
    after: Expr
    weight: Expr = DEFAULT_AUX_WEIGHT


class Model(IRNode):
    """A whole network or search space."""

    ir_version: int = IR_VERSION
    name: str
    imports: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    ops: tuple[OpDef, ...] = ()
    input: tuple[Expr, Expr, Expr]
    classes: Expr
    stems: tuple[OpCall, ...]
    cells: tuple[Cell, ...]
    layout: Layout
    head: Head
    aux: AuxHead | None = None
    affine: bool = True

    # -- small queries -------------------------------------------------------------------
    def cell(self, name: str) -> Cell | None:
        """The cell template named `name`, or None."""
        return next((c for c in self.cells if c.name == name), None)

    def op_def(self, name: str) -> OpDef | None:
        """The composite op named `name` (last definition wins: local ops shadow imports)."""
        found = None
        for d in self.ops:
            if d.name == name:
                found = d
        return found

    def param_values(self, overrides: Mapping[str, object] | None = None) -> dict[str, object]:
        """Param defaults with `overrides` applied (unknown override names are the caller's check)."""
        vals: dict[str, object] = {p.name: p.default for p in self.params}
        vals.update(overrides or {})
        return vals


IfStmt.model_rebuild()
OpDef.model_rebuild()
