"""NAS-Bench-201 architecture strings in and out (Dong & Yang, ICLR 2020).

    parse_arch("|nor_conv_3x3~0|+|...|")  -> [[("nor_conv_3x3", 0)], [(op, 0), (op, 1)], ...]
    from_arch(text, base=None)            -> the network of one cell (base: the NB201 space)
    arch_string(model)                     -> the benchmark's string of a network's cell
    space_model()                          -> the NB201 space (`examples/nb201_space.nas`)

A string lists the nodes of the cell separated by `+`; node k (1-based; node 0 is the cell
input) is `|op~j|op~j|...|`, one `op~j` per edge from node j. The benchmark's own strings list
every earlier node once, in order, with `none` for an absent edge (6 edges, 15,625 cells);
`arch_string` writes that form, so it can key a lookup in the benchmark's data file
(`nasc.search.nb201_bench`). The network is the space's macro skeleton
(`stdlib_ops/nb201.nas`: 3 stages of N cells with residual reduction blocks) with the
normal cell replaced by the string's cell; `none` edges are kept as `none` ops (no parameters),
as the reference builder keeps its `Zero` layers.
"""
from __future__ import annotations

import re

from nasc.errors import ParseError, ValidationError, did_you_mean
from nasc.ir.model import Cell, Edge, Model, Node, OpCall

#: the five ops of the benchmark's cell space, in the benchmark's order
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

Arch = list[list[tuple[str, int]]]

# `examples/nb201_space.nas` without its comments (tests/search/test_nb201.py checks that the
# two give the same IR): the example directory is not shipped in a wheel, the import needs it
SPACE_TEXT = """\
import nb201

param C = 16
param N = 5
param classes = 10

choice nb201_ops = [none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3]

cell nb201_cell(x) {
  n1 = nb201_ops(x)
  n2 = nb201_ops(x) + nb201_ops(n1)
  n3 = nb201_ops(x) + nb201_ops(n1) + nb201_ops(n2)
  return n3
}

cell nb201_resblock(x) {
  a = nor_conv_3x3(x)
  n = nor_conv_3x3(a) + nb201_shortcut(x)
  return n
}

network nb201 {
  input = (3, 32, 32)
  classes = classes
  stem = nb201_stem(C_out=C)
  cells = 3 * N + 2
  channels = C
  reductions = (N, 2 * N + 1)
  normal = nb201_cell
  reduce = nb201_resblock
  head = nb201_head
}
"""

_HINT = ("an NB201 string is nodes joined by `+`, each `|op~j|...|` with one `op~j` per edge from "
         "an earlier node j (0 is the cell input), e.g. "
         "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
_EDGE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)~([0-9]+)")


def _err(msg: str, col: int | None = None) -> ParseError:
    where = f" (column {col})" if col is not None else ""
    return ParseError(f"NB201 architecture: {msg}{where}", hint=_HINT)


def parse_arch(text: str) -> Arch:
    """The `(op, input node)` pairs of each node of an NB201 architecture string.

    Ops must be the benchmark's five; node k (1-based) may read nodes 0..k-1 only. Errors give
    the column in `text`.
    """
    s = text.strip()
    if not s:
        raise _err("empty string")
    offset = len(text) - len(text.lstrip())
    arch: Arch = []
    pos = 0
    for k, part in enumerate(s.split("+"), start=1):
        col = offset + pos + 1
        if not (part.startswith("|") and part.endswith("|") and len(part) >= 2):
            raise _err(f"node {k} `{part}` must be written `|op~j|...|`", col)
        pairs: list[tuple[str, int]] = []
        inner = col + 1
        for item in part[1:-1].split("|"):
            m = _EDGE.fullmatch(item)
            if m is None:
                raise _err(f"node {k}: `{item}` is not `op~j`", inner)
            op, j = m.group(1), int(m.group(2))
            if op not in NB201_OPS:
                raise ParseError(f"NB201 architecture: unknown op `{op}` (column {inner})",
                                 hint=did_you_mean(op, NB201_OPS) or "ops: " + ", ".join(NB201_OPS))
            if j >= k:
                raise _err(f"node {k} reads node {j}, which is not before it (nodes 0..{k - 1})", inner)
            pairs.append((op, j))
            inner += len(item) + 1
        arch.append(pairs)
        pos += len(part) + 1
    return arch


def format_arch(arch: Arch) -> str:
    """The string of `arch` as given (`parse_arch`'s inverse)."""
    return "+".join("|" + "|".join(f"{op}~{j}" for op, j in node) + "|" for node in arch)


def space_model() -> Model:
    """The NB201 search space, verified (the shipped twin of `examples/nb201_space.nas`)."""
    from nasc.frontend import parse_source

    return _verified(parse_source(SPACE_TEXT, None))


def _verified(model: Model) -> Model:
    from nasc.errors import Diagnostics
    from nasc.ir.verify import verify
    from nasc.ops.registry import primitive_table

    errors = verify(model, primitive_table())
    if errors:
        raise Diagnostics(errors)
    return model


def _template(model: Model) -> Cell:
    cell = model.cell(model.layout.normal)
    if cell is None:
        raise ValidationError(f"`{model.name}` has no normal cell template `{model.layout.normal}`",
                              model.span, hint="an NB201 network names its cell with `normal = ...`")
    if len(cell.inputs) != 1:
        raise ValidationError(f"cell `{cell.name}` has {len(cell.inputs)} inputs; an NB201 cell has one",
                              cell.span, hint="write the cell as `cell c(x) { ... }`")
    return cell


def from_arch(text: str, base: Model | None = None) -> Model:
    """The network of NB201 string `text`: `base` (default: the NB201 space) with its normal cell
    template replaced by the string's cell (nodes `n1..nK`, each the sum of its edges; the cell
    returns the last node). The result is verified."""
    arch = parse_arch(text)
    model = base if base is not None else space_model()
    cell = _template(model)
    states = [cell.inputs[0].name] + [f"n{k}" for k in range(1, len(arch) + 1)]
    nodes = tuple(
        Node(name=states[k], edges=tuple(Edge(input=states[j], op=OpCall(op=op)) for op, j in pairs),
             combine="sum", span=cell.span)
        for k, pairs in enumerate(arch, start=1))
    new = cell.model_copy(update={"nodes": nodes, "output": (states[-1],), "output_combine": "concat"})
    cells = tuple(new if c.name == cell.name else c for c in model.cells)
    return _verified(model.model_copy(update={"cells": cells}))


def arch_string(model: Model) -> str:
    """The benchmark's string of `model`'s normal cell template: every earlier node listed once,
    in order, `none` where the cell has no edge (what a derivation that drops `none` edges
    leaves). Raises `ValidationError` for a cell the benchmark cannot name (choices left, ops
    outside the five or with arguments, two edges between the same nodes, a node that is not a
    sum, an output other than the last node)."""
    cell = _template(model)
    states = [cell.inputs[0].name] + [n.name for n in cell.nodes]
    hint = "an NB201 cell: nodes summing one op of the five per earlier node, returning the last node"
    if list(cell.output) != [states[-1]] or not cell.nodes:
        raise ValidationError(f"cell `{cell.name}` must return its last node alone", cell.span, hint=hint)
    parts = []
    for k, node in enumerate(cell.nodes, start=1):
        if node.combine != "sum" and len(node.edges) > 1:
            raise ValidationError(f"node `{node.name}` combines by {node.combine}; NB201 nodes sum",
                                  node.span, hint=hint)
        ops: dict[int, str] = {}
        for e in node.edges:
            if not isinstance(e.op, OpCall):
                raise ValidationError(f"node `{node.name}` still has a choice", e.span,
                                      hint="derive the network first (finalize)")
            if e.op.op not in NB201_OPS or e.op.args:
                raise ValidationError(f"node `{node.name}`: op `{e.op.op}` is not one of the benchmark's "
                                      f"({', '.join(NB201_OPS)}) without arguments", e.span, hint=hint)
            j = states.index(e.input)
            if j in ops:
                raise ValidationError(f"node `{node.name}` has two edges from `{e.input}`", e.span, hint=hint)
            ops[j] = e.op.op
        parts.append("|" + "|".join(f"{ops.get(j, 'none')}~{j}" for j in range(k)) + "|")
    return "+".join(parts)
