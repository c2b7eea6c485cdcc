"""Petridish's growth step (Hu et al., NeurIPS 2019) as pure IR transforms. Torch-free.

    grown = grow(parent, "normal", ["sep_conv_3x3", "max_pool_3x3", "skip_connect"])
    net = build_module(elaborate(grown.model))         # parent's weights load with strict=False
    alpha = torch.zeros(arch_shape(grown)).normal_(0, 1e-3).requires_grad_()
    loss = ce(net(x, arch={grown.template: alpha}), y) + lam * alpha.abs().sum()
    child = select(grown, scores_from_matrices(grown.model, {grown.template: alpha}), k=2)

`grow` adds to one cell template (every instance of it, templates are shared) of a discrete
network:
- op definitions `sg_<op>` = `stop_gradient` then `<op>` (a composite, so the inner op sees the
  edge's `stride`, `C_out` and `affine` context);
- a candidate node `c` (`n<i>`, the next free name) whose edges read every earlier state (cell
  inputs and all nodes), each a `choice` over the `sg_<op>`s;
- a join node `c_join = target + stop_forward(c)` that replaces `target` in the cell's output list.

`target` is the last output state that is a node whose shape equals the candidate's in every
instance of the template (in a DARTS cell: the last node). A `concat` node of several edges is
wider than the candidate and is passed over: adding `stop_forward(c)` there, or appending `c` to
the cell output now, would change the shapes the next cells read, so the parent would no longer
compute exactly what it did. A template with no such node is refused.

Exactness: `stop_forward` is exact zeros and `x + 0 == x`, so the grown network computes the
parent's values bit for bit; `stop_gradient` keeps the candidate's gradient out of the parent, and
`stop_forward`'s backward is the identity, so the parent's weights get exactly their old
gradients while the candidate gets the gradient of `target`. Existing modules keep their names
(`cells.<i>.<node>...`): only `cells.<i>.<candidate>.*` and `cells.<i>.<candidate>_join.*` are new.

Architecture weights: one matrix of shape `arch_shape(grown)` = (candidate edges, ops), rows in
`nasc.ir.queries.choice_edge_ids` order (the candidate's edges in order), columns in `ops` order,
passed to the lowered net as `net(x, arch={template: alpha})`. Petridish uses the raw weights
(no softmax) with an L1 penalty: `nasc.lower.mixed.MixedOp` computes `sum_j w_j * op_j(x)` for any
real `w` (unnormalised and negative weights included), so the raw alphas are passed as they are.

Several templates can grow at once: grow them in turn (each `grow` takes the previous result;
the `sg_*` definitions are shared), train one alpha matrix per template, then `select` each
`Grown` in turn on the latest model (`dataclasses.replace(g, model=child)`); one score dict
holding every template's edges may be passed to each `select`.

`select` keeps the `k` (input, op) pairs with the largest |score| (the `petridish` finalize rule:
`num_edges_to_sample`; two ops on one input may both stay), turns the candidate into an ordinary
sum node of those plain ops, removes the join (restoring `target` in the output list), appends the
candidate to the cell's output list and drops the `sg_*` definitions no longer used.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from nasc.analysis.elaborate import elaborate
from nasc.analysis.shapes import fmt_shape
from nasc.errors import NameResolutionError, SearchError, ValidationError, did_you_mean, raise_all
from nasc.ir.ids import edge_id
from nasc.ir.model import Cell, Choice, Edge, IfStmt, Model, Node, OpCall, OpDef, Stmt
from nasc.ir.names import name_problem
from nasc.ir.queries import is_search_space
from nasc.ir.verify import verify
from nasc.ops.registry import is_primitive, primitive_names, primitive_table
from nasc.passes.finalize_rules import NONE_OPS, petridish_rule

__all__ = ["Grown", "arch_shape", "grow", "select", "sg_name"]

SG_PREFIX = "sg_"


@dataclass(frozen=True)
class Grown:
    """A parent grown by one candidate node in cell template `template`.

    `candidate` is the candidate node, `join` the node that joins it (`replaced + stop_forward(
    candidate)`), `replaced` the output state the join stands in for, `ops` the candidate ops in
    column order and `op_defs` the `sg_*` definitions `grow` added (those `select` may remove).
    """

    model: Model
    template: str
    candidate: str
    join: str
    replaced: str
    ops: tuple[str, ...]
    op_defs: tuple[str, ...] = ()


def sg_name(op: str) -> str:
    """The name of the stop-gradient composite of `op`: `sg_<op>`."""
    return SG_PREFIX + op


def grow(parent: Model, template: str, ops: Sequence[str], *, name: str | None = None) -> Grown:
    """Add a Petridish candidate node over `ops` to cell template `template` of discrete network
    `parent` (see the module docstring). `name` names the candidate (default: the next free
    `n<i>`). `parent` may already carry candidates in *other* templates (grow them one after
    another; `select` each `Grown` with the latest model, `dataclasses.replace(g, model=...)`).
    Raises `SearchError` for a search space, a template that already has a candidate or has
    nothing to join, `NameResolutionError` for an unknown template or op, `ValidationError` for a
    bad name."""
    if is_search_space(parent) and not _only_candidates(parent):
        raise SearchError(f"`{parent.name}` is a search space (it has `choice` edges): Petridish grows "
                          "discrete networks", parent.span,
                          hint="derive a network from the space first (finalize), or start from a "
                               "hand-written network")
    cell = parent.cell(template)
    if cell is None:
        names = [c.name for c in parent.cells]
        raise NameResolutionError(f"unknown cell template `{template}`", parent.span,
                                  did_you_mean(template, names) or f"cell templates: {', '.join(names)}")
    if any(isinstance(e.op, Choice) for n in cell.nodes for e in n.edges):
        raise SearchError(f"cell `{cell.name}` already has a Petridish candidate", cell.span,
                          hint="`select` it first: a template grows one candidate at a time")
    ops = tuple(ops)
    _check_ops(parent, cell, ops)
    taken = {i.name for i in cell.inputs} | {n.name for n in cell.nodes}
    cand = _candidate_name(cell, taken, name)
    join = _free(f"{cand}_join", taken | {cand})

    defs, added = _sg_defs(parent, cell, ops)
    states = [i.name for i in cell.inputs] + [n.name for n in cell.nodes]
    # a named choice prints as `choice petridish_normal = [...]` and short edges
    used = {d.name for d in parent.ops} | set(_used_ops(parent)) | _choice_names(parent)
    choice = Choice(candidates=tuple(OpCall(op=sg_name(op), span=cell.span) for op in ops),
                    name=_free(f"petridish_{cell.name}", used), span=cell.span)
    cand_node = Node(name=cand, edges=tuple(Edge(input=s, op=choice, span=cell.span) for s in states),
                     combine="sum", span=cell.span)
    probe = parent.model_copy(update={
        "ops": parent.ops + defs,
        "cells": _replace_cell(parent, cell.model_copy(update={"nodes": cell.nodes + (cand_node,)}))})
    target = _join_target(probe, cell, cand)

    target_span = next(n.span for n in cell.nodes if n.name == target)
    join_node = Node(name=join, combine="sum", span=target_span, edges=(
        Edge(input=target, op=OpCall(op="identity", span=target_span), span=target_span),
        Edge(input=cand, op=OpCall(op="stop_forward", span=target_span), span=target_span)))
    grown_cell = cell.model_copy(update={
        "nodes": cell.nodes + (cand_node, join_node),
        "output": tuple(join if s == target else s for s in cell.output)})
    model = probe.model_copy(update={"cells": _replace_cell(probe, grown_cell)})
    raise_all(verify(model, primitive_table()))
    return Grown(model, template, cand, join, target, ops, added)


def arch_shape(grown: Grown) -> tuple[int, int]:
    """`(n_edges, n_ops)`: the shape of the candidate's architecture-weight matrix (rows: the
    candidate's edges in order, which is `choice_edge_ids` order; columns: `grown.ops`)."""
    cell = _grown_cell(grown)
    return len(_node(grown, cell, grown.candidate).edges), len(grown.ops)


def select(grown: Grown, scores: Mapping[str, Sequence[float]], k: int) -> Model:
    """The child network: the candidate keeps the `k` (input, op) pairs with the largest |score|
    (ties: the earlier edge, then the earlier op; `none`/`zero` never), as an ordinary sum node of
    the plain ops appended to the cell's output list; the join is removed and the replaced state
    restored. `scores` maps each candidate edge's template id (`normal.n2.e0`) to one raw weight
    per op (e.g. `nasc.passes.finalize.scores_from_matrices(grown.model, {template: alpha})`)."""
    cell = _grown_cell(grown)
    cand = _node(grown, cell, grown.candidate)
    _node(grown, cell, grown.join)
    ids = [edge_id(grown.template, cand.name, i) for i in range(len(cand.edges))]
    probs = _check_scores(grown, ids, scores)
    n_pairs = sum(1 for op in grown.ops if op not in NONE_OPS) * len(ids)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n_pairs:
        raise SearchError(f"cannot keep {k!r} of the candidate's {n_pairs} (input, op) pairs", cell.span,
                          hint=f"k (num_edges_to_sample) must be between 1 and {n_pairs}")
    plain = {sg_name(op): op for op in grown.ops}
    kept = petridish_rule(cand.model_copy(update={"keep": k}), probs)
    edges = []
    for e in kept:
        assert isinstance(e.op, OpCall)  # the rule turns every choice into one op
        edges.append(e.model_copy(update={"op": e.op.model_copy(update={"op": plain.get(e.op.op, e.op.op)})}))
    new_cand = cand.model_copy(update={"edges": tuple(edges), "keep": None})
    new_cell = cell.model_copy(update={
        "nodes": tuple(new_cand if n.name == cand.name else n for n in cell.nodes if n.name != grown.join),
        "output": tuple(grown.replaced if s == grown.join else s for s in cell.output) + (cand.name,)})
    model = grown.model.model_copy(update={"cells": _replace_cell(grown.model, new_cell)})
    used = set(_used_ops(model))
    model = model.model_copy(update={
        "ops": tuple(d for d in model.ops if d.name not in grown.op_defs or d.name in used)})
    raise_all(verify(model, primitive_table()))
    return model


# -- grow helpers ------------------------------------------------------------------------------
def _check_ops(parent: Model, cell: Cell, ops: tuple[str, ...]) -> None:
    if not ops:
        raise SearchError("Petridish needs at least one candidate op", cell.span,
                          hint="e.g. ops = [sep_conv_3x3, max_pool_3x3, skip_connect]")
    dup = next((op for i, op in enumerate(ops) if op in ops[:i]), None)
    if dup is not None:
        raise SearchError(f"candidate op `{dup}` is listed twice", cell.span, hint="list each op once")
    known = primitive_names() + sorted({d.name for d in parent.ops})
    for op in ops:
        if not is_primitive(op) and parent.op_def(op) is None:
            raise NameResolutionError(f"unknown candidate op `{op}` (growing cell `{cell.name}`)", cell.span,
                                      did_you_mean(op, known) or "import the library that defines it")


def _candidate_name(cell: Cell, taken: set[str], name: str | None) -> str:
    if name is None:
        return _free_index(taken, len(cell.nodes))
    problem = name_problem(name)
    if problem is not None:
        raise ValidationError(f"candidate name `{name}` {problem}", cell.span, hint="use an identifier such as `n4`")
    if name in taken:
        raise ValidationError(f"cell `{cell.name}` already has a state `{name}`", cell.span,
                              hint=f"pick a free name, e.g. `{_free_index(taken, len(cell.nodes))}`")
    return name


def _free_index(taken: set[str], start: int) -> str:
    i = start
    while f"n{i}" in taken:
        i += 1
    return f"n{i}"


def _free(base: str, taken: set[str]) -> str:
    name, i = base, 2
    while name in taken:
        name, i = f"{base}{i}", i + 1
    return name


def _sg_body(op: str, cell: Cell) -> tuple[Stmt, ...]:
    return (OpCall(op="stop_gradient", span=cell.span), OpCall(op=op, span=cell.span))


def _sg_defs(parent: Model, cell: Cell, ops: tuple[str, ...]) -> tuple[tuple[OpDef, ...], tuple[str, ...]]:
    """The `sg_<op>` definitions to add (an existing identical one is reused) and their names."""
    defs: list[OpDef] = []
    for op in ops:
        sg = sg_name(op)
        body = _sg_body(op, cell)
        have = parent.op_def(sg)
        if have is not None:
            # spans are not part of IR equality: a definition with this body means the same
            if have.body != body or have.params:
                raise SearchError(f"op `{sg}` is already defined, and not as `stop_gradient; {op}`",
                                  have.span or cell.span, hint=f"rename that op: Petridish uses `{sg}`")
            continue
        if is_primitive(sg):
            raise SearchError(f"`{sg}` is a primitive: Petridish cannot define its stop-gradient op", cell.span)
        defs.append(OpDef(name=sg, body=body, doc=f"Petridish candidate: `{op}` behind a stop-gradient",
                          span=cell.span))
    return tuple(defs), tuple(d.name for d in defs)


def _join_target(probe: Model, cell: Cell, cand: str) -> str:
    """The last output node whose shape equals the candidate's in every instance of `cell`."""
    net = elaborate(probe)
    insts = [c for c in net.cells if c.template == cell.name]
    if not insts:
        raise SearchError(f"cell template `{cell.name}` is not used by any cell of `{probe.name}`", cell.span,
                          hint="grow a template the layout places (layout normal/reduce)")
    node_names = {n.name for n in cell.nodes}
    shapes = {c.index: {n.name: n.out_shape for n in c.nodes} for c in insts}
    for state in reversed(cell.output):
        if state in node_names and all(s[state] == s[cand] for s in shapes.values()):
            return state
    first = insts[0].index
    seen = ", ".join(f"{s} {fmt_shape(shapes[first][s])}" for s in cell.output if s in node_names) or "none"
    raise SearchError(
        f"cell `{cell.name}` has no output node of the candidate's shape {fmt_shape(shapes[first][cand])} "
        f"to join (output nodes: {seen}; cells.{first})", cell.span,
        hint="Petridish joins the candidate to an output node of the cell's width (a `sum` or `proj` "
             "node); a wider `concat` node cannot take it without changing the parent")


def _only_candidates(model: Model) -> bool:
    """Whether every choice edge of `model` is a Petridish candidate's (choices over `sg_*` ops
    defined as `stop_gradient; <op>`): other templates may be grown at the same time."""
    for c in model.cells:
        for n in c.nodes:
            for e in n.edges:
                if isinstance(e.op, Choice):
                    for call in e.op.candidates:
                        d = model.op_def(call.op)
                        op = call.op[len(SG_PREFIX):]
                        if (call.args or not call.op.startswith(SG_PREFIX) or d is None
                                or d.params or d.body != _sg_body(op, c)):
                            return False
    return True


# -- select helpers ----------------------------------------------------------------------------
def _grown_cell(grown: Grown) -> Cell:
    cell = grown.model.cell(grown.template)
    if cell is None:
        raise SearchError(f"the grown model has no cell template `{grown.template}`", grown.model.span,
                          hint="pass the `Grown` that `grow` returned, unmodified")
    return cell


def _node(grown: Grown, cell: Cell, name: str) -> Node:
    node = next((n for n in cell.nodes if n.name == name), None)
    if node is None:
        raise SearchError(f"cell `{cell.name}` of the grown model has no node `{name}`", cell.span,
                          hint="pass the `Grown` that `grow` returned, unmodified")
    return node


def _check_scores(grown: Grown, ids: list[str], scores: Mapping[str, Sequence[float]]) -> dict[int, list[float]]:
    """Per candidate edge index, its scores (one finite value per op)."""
    missing = [i for i in ids if i not in scores]
    if missing:
        raise SearchError(f"no scores for candidate edge(s) {', '.join(missing[:4])}"
                          + (f" and {len(missing) - 4} more" if len(missing) > 4 else ""),
                          hint="scores are keyed by template edge id, e.g. "
                               f"`{ids[0]}`: one value per op")
    # keys of other templates are allowed (one score dict for several grown templates)
    extra = sorted(k for k in scores if k.startswith(f"{grown.template}.") and k not in ids)
    if extra:
        raise SearchError(f"scores given for edge(s) that are not the candidate's: {', '.join(extra[:4])}",
                          hint=f"the candidate's edges are {ids[0]} .. {ids[-1]}")
    out: dict[int, list[float]] = {}
    for i, key in enumerate(ids):
        row = [float(x) for x in scores[key]]
        if len(row) != len(grown.ops):
            raise SearchError(f"scores of `{key}` have {len(row)} values for {len(grown.ops)} ops",
                              hint=f"one value per op, in order: {', '.join(grown.ops)}")
        if not all(math.isfinite(x) for x in row):
            raise SearchError(f"scores of `{key}` are not all finite: {row}")
        out[i] = row
    return out


def _replace_cell(model: Model, cell: Cell) -> tuple[Cell, ...]:
    return tuple(cell if c.name == cell.name else c for c in model.cells)


def _choice_names(model: Model) -> set[str]:
    return {e.op.name for c in model.cells for n in c.nodes for e in n.edges
            if isinstance(e.op, Choice) and e.op.name}


def _calls(stmts: Sequence[Stmt]) -> Iterator[OpCall]:
    for s in stmts:
        if isinstance(s, IfStmt):
            yield from _calls(s.then)
            yield from _calls(s.orelse)
        else:
            yield s


def _used_ops(model: Model) -> Iterator[str]:
    """Every op name the model calls anywhere (cells, stems, head, aux, op bodies)."""
    calls: list[OpCall] = [*model.stems, model.head.op]
    if model.aux is not None:
        calls.append(model.aux.op)
    for cell in model.cells:
        calls.extend(i.op for i in cell.inputs if i.op is not None)
        for n in cell.nodes:
            for e in n.edges:
                calls.extend(e.op.candidates if isinstance(e.op, Choice) else (e.op,))
    for c in calls:
        yield c.op
    for d in model.ops:
        for c in _calls(d.body):
            yield c.op

