"""DARTS `Genotype(...)` strings in and out, for familiarity with the reference code.

    to_genotype(final_model)        -> "Genotype(normal=[[('sep_conv_3x3', 0), ...]], normal_concat=range(2, 6), ...)"
    from_genotype(text, space)      -> the discrete network with `space`'s macro skeleton and cell inputs

A genotype lists, per node, the `(op, input)` pairs of its edges; input `0`, `1` are the cell
inputs (`s0`, `s1`), input `k + 2` is node `k`; `*_concat` names the nodes concatenated into the
cell output. Output uses pt.darts' nested form (one list per node) and `range(a, b)` for a
contiguous concat; input accepts that and the original DARTS flat form (two edges per node, in
order) with list concats. Parsing uses `ast` (no evaluation). Op arguments (`conv_bn(k=3)`) have
no genotype spelling: only op names are written.
"""
from __future__ import annotations

import ast
from collections.abc import Sequence

from nasc.errors import ParseError, ValidationError
from nasc.ir.model import Cell, Edge, Model, Node, OpCall

Gene = list[list[tuple[str, int]]]


def _state_index(cell: Cell, name: str) -> int:
    names = [i.name for i in cell.inputs] + [n.name for n in cell.nodes]
    return names.index(name)


def cell_gene(cell: Cell) -> tuple[Gene, list[int]]:
    """The `(op, input index)` pairs per node and the output indices of a discrete cell."""
    gene: Gene = []
    for node in cell.nodes:
        pairs = []
        for e in node.edges:
            if not isinstance(e.op, OpCall):
                raise ValidationError(f"cell `{cell.name}` node `{node.name}` still has a choice",
                                      e.span, hint="derive the network first (finalize)")
            pairs.append((e.op.op, _state_index(cell, e.input)))
        gene.append(pairs)
    return gene, [_state_index(cell, s) for s in cell.output]


def _concat_text(idx: Sequence[int]) -> str:
    if idx and list(idx) == list(range(idx[0], idx[-1] + 1)):
        return f"range({idx[0]}, {idx[-1] + 1})"
    return "[" + ", ".join(str(i) for i in idx) + "]"


def _gene_text(gene: Gene) -> str:
    return "[" + ", ".join("[" + ", ".join(f"('{op}', {i})" for op, i in node) + "]"
                           for node in gene) + "]"


def to_genotype(model: Model) -> str:
    """The pt.darts-style genotype of a discrete model's normal and reduction cell templates."""
    parts = []
    for kind, name in (("normal", model.layout.normal), ("reduce", model.layout.reduce)):
        cell = model.cell(name)
        if cell is None:
            continue
        gene, concat = cell_gene(cell)
        parts.append(f"{kind}={_gene_text(gene)}, {kind}_concat={_concat_text(concat)}")
    return "Genotype(" + ", ".join(parts) + ")"


# ------------------------------------------------------------------------------------ parsing

def genotype_or_none(model: Model) -> str | None:
    """`to_genotype(model)`, or None for a cell the genotype form cannot describe (e.g. a
    NAS-Bench-201 cell, or a grown cell whose nodes do not take two inputs each)."""
    from nasc.errors import NascError

    try:
        return to_genotype(model)
    except NascError:
        return None


def _err(msg: str, node: ast.AST | None = None) -> ParseError:
    where = f" (column {node.col_offset + 1})" if node is not None and hasattr(node, "col_offset") else ""
    return ParseError(f"genotype: {msg}{where}",
                      hint="write Genotype(normal=[[('sep_conv_3x3', 0), ('skip_connect', 1)], ...], "
                           "normal_concat=range(2, 6), reduce=[...], reduce_concat=range(2, 6))")


def _pair(node: ast.AST) -> tuple[str, int]:
    if isinstance(node, (ast.Tuple, ast.List)) and len(node.elts) == 2:
        op, idx = node.elts
        if (isinstance(op, ast.Constant) and isinstance(op.value, str) and isinstance(idx, ast.Constant)
                and isinstance(idx.value, int) and not isinstance(idx.value, bool) and idx.value >= 0):
            return op.value, idx.value
    raise _err("expected an ('op', input) pair", node)


def _is_pair(node: ast.AST) -> bool:
    return (isinstance(node, (ast.Tuple, ast.List)) and len(node.elts) == 2
            and isinstance(node.elts[0], ast.Constant) and isinstance(node.elts[0].value, str))


def _gene(node: ast.AST) -> Gene:
    if not isinstance(node, (ast.List, ast.Tuple)):
        raise _err("expected a list of edges", node)
    items = node.elts
    if items and all(_is_pair(i) for i in items):  # DARTS' flat form: two edges per node
        flat = [_pair(p) for p in items]
        if len(flat) % 2:
            raise _err("the flat form needs two edges per node (an even number of pairs)", node)
        return [flat[i:i + 2] for i in range(0, len(flat), 2)]
    gene: Gene = []
    for n in items:  # pt.darts' nested form: one list of pairs per node
        if not isinstance(n, (ast.List, ast.Tuple)):
            raise _err("expected a list of ('op', input) pairs per node", n)
        gene.append([_pair(p) for p in n.elts])
    return gene


def _concat(node: ast.AST) -> list[int]:
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and not node.keywords and 1 <= len(node.args) <= 2
            and all(isinstance(a, ast.Constant) and isinstance(a.value, int) for a in node.args)):
        vals = [a.value for a in node.args]  # type: ignore[attr-defined]
        return list(range(*vals))
    if isinstance(node, (ast.List, ast.Tuple)) and all(
            isinstance(a, ast.Constant) and isinstance(a.value, int) for a in node.elts):
        return [a.value for a in node.elts]  # type: ignore[attr-defined]
    raise _err("a concat is range(a, b) or a list of ints", node)


def parse_genotype(text: str) -> dict[str, tuple[Gene, list[int]]]:
    """`{"normal": (gene, concat), "reduce": (gene, concat)}` from a genotype string."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise _err(f"not a Python-style expression: {exc.msg}") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise _err("expected Genotype(...)", call)
    if call.args:
        raise _err("use keyword arguments (normal=..., normal_concat=..., ...)", call)
    kw = {k.arg: k.value for k in call.keywords}
    unknown = sorted(k for k in kw if k not in ("normal", "normal_concat", "reduce", "reduce_concat"))
    if unknown:
        raise _err(f"unknown field `{unknown[0]}`")
    out: dict[str, tuple[Gene, list[int]]] = {}
    for kind in ("normal", "reduce"):
        if kind in kw:
            gene = _gene(kw[kind])
            concat = _concat(kw[f"{kind}_concat"]) if f"{kind}_concat" in kw else \
                list(range(2, 2 + len(gene)))
            out[kind] = (gene, concat)
    if not out:
        raise _err("no normal= or reduce= field")
    return out


def _cell_from_gene(base: Cell, gene: Gene, concat: list[int]) -> Cell:
    n_in = len(base.inputs)
    names = [n.name for n in base.nodes] if len(base.nodes) == len(gene) else \
        [f"n{k}" for k in range(len(gene))]
    states = [i.name for i in base.inputs] + names

    def state(i: int, limit: int) -> str:
        if i >= limit:
            raise ParseError(f"genotype: cell `{base.name}` input {i} does not exist before "
                             f"node {limit - n_in} (inputs 0..{limit - 1})",
                             hint="input k + 2 is node k; a node reads only earlier states")
        return states[i]

    nodes = []
    for k, pairs in enumerate(gene):
        if not pairs:
            raise ParseError(f"genotype: node {k} of cell `{base.name}` has no edges")
        edges = tuple(Edge(input=state(i, n_in + k), op=OpCall(op=op)) for op, i in pairs)
        nodes.append(Node(name=names[k], edges=edges, combine="sum"))
    output = tuple(state(i, len(states)) for i in concat)
    return base.model_copy(update={"nodes": tuple(nodes), "output": output,
                                   "output_combine": "concat"})


def from_genotype(text: str, base: Model) -> Model:
    """The discrete network of genotype `text` on the macro skeleton of `base` (a space or a
    network with `normal`/`reduce` cell templates whose inputs and preprocessing are kept)."""
    genes = parse_genotype(text)
    cells = []
    for cell in base.cells:
        kind = "normal" if cell.name == base.layout.normal else (
            "reduce" if cell.name == base.layout.reduce else None)
        if kind is not None and kind in genes:
            cells.append(_cell_from_gene(cell, *genes[kind]))
        else:
            cells.append(cell)
    return base.model_copy(update={"cells": tuple(cells)})
