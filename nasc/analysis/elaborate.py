"""Elaboration: `Model` -> `Network`, every expression evaluated, every composite expanded and
every tensor shape inferred. The one implementation of the model semantics of docs/internals.md.

Layout: the param values (after overrides) evaluate `cells`, `channels`, `reductions` (default
the DARTS rule `cells // 3, 2 * cells // 3`) and `growth`. The cell channel count starts at
`channels` and is multiplied by `growth` at each reduction cell (the reduction cell already has
the new count).

States: the stems are chained (stem j reads stem j-1, stem 0 the input; at least one stem, and
`stem = identity` passes the input on); their outputs, then one per cell instance, are the
global states. Cell i with k inputs reads the k states before it; when
fewer exist the first state is repeated in front (CIFAR: s0 = s1 = stem).

Contexts (`shapes.CallContext`): stems `stride 1, affine true` and need an explicit `C_out`;
cell input preprocessing `C_out = channels, stride = H(input) // H(last input)`; cell edges
`C_out = channels, stride = 2` when a reduction cell's edge reads a cell input (else 1); cell ops
`affine = model.affine`; the head and the aux head `C_out = classes`, `stride 1`, `affine true`.
Node combine: `sum`, `concat`, `proj` (concat, then a 1x1 `conv` + `bn` to the cell's channel count, a pipeline
whose `call` is `OpCall(op="proj")`). Cell output: `concat` or `sum` of its output states. The
head reads the last state and must give `(classes, 1, 1)`; the aux head reads cell `after`.

Errors are collected over the whole network (a `Diagnostics` when there are several) without
cascading: a failed node or cell gets a nominal shape so later cells can still be checked, and
each distinct (site, message) is reported once, naming the first cell instance it occurred in.
Pipelines are memoised on (site, context): a deep network of repeated cells elaborates in time
linear in its number of cells with a small constant.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nasc.analysis.network import (CellInst, EdgeInst, InputInst, Mixed, Network, NodeInst, Pipeline,
                                   PrimCall)
from nasc.analysis.shapes import CallContext, Expander, fmt_shape
from nasc.errors import ConfigError, NameResolutionError, NascError, ShapeError, ValidationError, \
    did_you_mean, raise_all
from nasc.ir.expr import Expr, Value, evaluate
from nasc.ir.ids import edge_id, instance_edge_id
from nasc.ir.macro import default_reductions
from nasc.ir.model import Cell, Choice, Model, Node, OpCall
from nasc.limits import MAX_DIM, check_cells
from nasc.ops.registry import Shape, get_primitive
from nasc.source import Span

__all__ = ["elaborate"]


def elaborate(model: Model, overrides: Mapping[str, Value] | None = None) -> Network:
    """Elaborate `model` (with param `overrides`, normally already applied by the front end).

    Raises `ShapeError`/`ValidationError`/`NameResolutionError` for one problem, `Diagnostics`
    for several; every error names its site (`normal.n2.e0`, cell instance) and has a span.
    """
    return _Elaborator(model, overrides or {}).run()


@dataclass
class _Report:
    """One distinct error and the cell instances it occurred in."""

    err: NascError
    site: str
    instances: list[int] = field(default_factory=list)


class _Failed(Exception):
    """Internal: a site failed; its error has been recorded."""


def _copy(err: NascError, message: str, span: Span | None) -> NascError:
    """An error of the same kind with another message and span."""
    return type(err)(message, span, err.hint, err.key)


class _Elaborator:
    """One elaboration: the evaluated params, the pipeline memo and the errors found so far."""

    def __init__(self, model: Model, overrides: Mapping[str, Value]) -> None:
        self.model = model
        unknown = [k for k in overrides if k not in {p.name for p in model.params}]
        if unknown:
            raise ConfigError(f"unknown parameter `{unknown[0]}`", key=unknown[0],
                              hint=did_you_mean(unknown[0], [p.name for p in model.params]))
        self.params: dict[str, Value] = dict(model.param_values(dict(overrides)))  # type: ignore[arg-type]
        self.expander = Expander(model, self.params)
        self.memo: dict[tuple[object, ...], Pipeline | Mixed | NascError] = {}
        self.reports: dict[tuple[type, str], _Report] = {}
        self.affine = model.affine

    # -- errors ----------------------------------------------------------------------------
    def _record(self, err: NascError, site: str, span: Span | None, instance: int | None) -> None:
        """Record `err` at `site` (deduplicated on (kind, site, message))."""
        # where in the expansion it happened; the input shape matters for shape errors only
        detail = []
        path = getattr(err, "nasc_path", None)
        if path is not None and "/" in path:
            detail.append(f"at {path}")
        if path is not None and isinstance(err, ShapeError):
            detail.append(f"input {fmt_shape(err.nasc_in_shape)}")  # type: ignore[attr-defined]
        message = err.message + (f" ({', '.join(detail)})" if detail else "")
        # shape errors depend on where the op is used: point at the use; definition errors
        # (unknown names, bad args inside an op body) point at the definition when known
        where = span if isinstance(err, ShapeError) or err.span is None else err.span
        key = (type(err), f"{site}: {message}")
        rep = self.reports.get(key)
        if rep is None:
            rep = self.reports[key] = _Report(_copy(err, message, where), site)
        if instance is not None:
            rep.instances.append(instance)

    def _errors(self) -> list[NascError]:
        out = []
        for rep in self.reports.values():
            where = rep.site
            if rep.instances:
                first, more = rep.instances[0], len(rep.instances) - 1
                where += f" (cells.{first}" + (f", +{more} more" if more else "") + ")"
            out.append(_copy(rep.err, f"{where}: {rep.err.message}", rep.err.span))
        return out

    # -- evaluation of model-level expressions --------------------------------------------
    def _int(self, e: Expr, what: str, span: Span | None, minimum: int = 1, maximum: int = MAX_DIM) -> int:
        v = evaluate(e, self.params)
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ValidationError(f"{what} must be an integer >= {minimum}, got {v!r}", e.span or span,
                                  "use `//` for integer division" if isinstance(v, float) else None)
        if v > maximum:  # checked before anything is built from it (sizes, the cell loop)
            shown = f"{v:,}" if v < 10**30 else f"~10^{len(str(v)) - 1}"
            raise ValidationError(f"{what} is {shown}, over the limit of {maximum:,}", e.span or span,
                                  "a tensor dimension this large cannot be built")
        return v

    # -- pipelines -------------------------------------------------------------------------
    def _pipeline(self, key: tuple[object, ...], call: OpCall, ctx: CallContext) -> Pipeline:
        """Expand `call` in `ctx` (memoised on `key` and `ctx`); raises the (tagged) error."""
        mkey = (key, ctx)
        hit = self.memo.get(mkey)
        if hit is None:
            try:
                calls, out = self.expander.expand(call, ctx)
                hit = Pipeline(call, calls, ctx.shape, out)
            except NascError as err:
                hit = err
            self.memo[mkey] = hit
        if isinstance(hit, NascError):
            raise hit
        return hit  # type: ignore[return-value]

    def _site_pipeline(self, key: tuple[object, ...], call: OpCall, ctx: CallContext, site: str,
                       span: Span | None, instance: int | None) -> Pipeline:
        try:
            return self._pipeline(key, call, ctx)
        except NascError as err:
            self._record(err, site, span or call.span, instance)
            raise _Failed from None

    def _mixed(self, tid: str, choice: Choice, ctx: CallContext, span: Span | None,
               instance: int) -> Mixed:
        mkey = (("mixed", tid), ctx)
        hit = self.memo.get(mkey)
        if isinstance(hit, Mixed):
            return hit
        cands: list[Pipeline] = []
        failed = False
        for j, cand in enumerate(choice.candidates):
            try:
                cands.append(self._site_pipeline(("cand", tid, j), cand, ctx,
                                                 f"{tid} candidate `{cand.op}`", span, instance))
            except _Failed:
                failed = True
        if failed:
            raise _Failed
        if not cands:
            self._record(ValidationError("a choice needs at least one candidate"), tid, span or choice.span,
                         instance)
            raise _Failed
        for c in cands[1:]:
            if c.out_shape != cands[0].out_shape:
                self._record(ShapeError(
                    f"choice candidate `{c.call.op}` gives {fmt_shape(c.out_shape)} but `{cands[0].call.op}` "
                    f"gives {fmt_shape(cands[0].out_shape)}",
                    hint="every candidate of a choice must produce the same shape"),
                    tid, c.call.span or span, instance)
                raise _Failed
        m = Mixed(tuple(c.call.op for c in cands), tuple(cands), ctx.shape, cands[0].out_shape)
        self.memo[mkey] = m
        return m

    # -- the network -----------------------------------------------------------------------
    def run(self) -> Network:
        m = self.model
        lay = m.layout
        inp = tuple(self._int(e, "an input dimension", m.span) for e in m.input)
        input_shape: Shape = (inp[0], inp[1], inp[2])
        classes = self._int(m.classes, "classes", m.span)
        n_cells = self._int(lay.cells, "cells", lay.span, minimum=0, maximum=10**30)
        check_cells(n_cells, span=lay.cells.span or lay.span)  # before any cell is elaborated
        channels = self._int(lay.channels, "channels", lay.span)
        if lay.reductions is None:
            reductions = set(default_reductions(n_cells))
        else:
            reductions = set()
            for e in lay.reductions:
                r = self._int(e, "a reduction position", lay.span, minimum=0)
                if r >= n_cells:
                    raise ValidationError(f"reduction position {r} is not a cell (the network has {n_cells} cells)",
                                          e.span or lay.span, f"use positions 0 .. {n_cells - 1}")
                reductions.add(r)
        growth = evaluate(lay.growth, self.params)
        if isinstance(growth, bool) or not isinstance(growth, (int, float)) or growth <= 0:
            raise ValidationError(f"growth must be a positive number, got {growth!r}", lay.growth.span or lay.span)
        templates: dict[str, Cell] = {}
        for role, name in (("normal", lay.normal), ("reduce", lay.reduce)):
            needed = n_cells > len(reductions) if role == "normal" else bool(reductions)
            cell = m.cell(name)
            if cell is None and needed:
                raise NameResolutionError(f"no cell template `{name}` for the {role} cells", lay.span,
                                          did_you_mean(name, [c.name for c in m.cells])
                                          or f"define `cell {name}(...) {{ ... }}` or set `{role} = ...`")
            if cell is not None:
                templates[role] = cell

        # stems: chained, stride 1, affine true, explicit C_out; global states start with them
        if not m.stems:
            raise ValidationError("a network needs at least one stem", m.span,
                                  "add e.g. `stem = cifar_stem(C_out=C * 3)`; `stem = identity` feeds the input "
                                  "to the cells unchanged")
        stems: list[Pipeline] = []
        shape = input_shape
        for j, call in enumerate(m.stems):
            try:
                p = self._site_pipeline(("stem", j), call, CallContext(shape, None, 1, True), f"stem {j}",
                                        call.span, None)
            except _Failed:
                raise_all(self._errors())
            stems.append(p)
            shape = p.out_shape
        states: list[Shape] = [s.out_shape for s in stems]
        n_stem_states = len(states)

        cells: list[CellInst] = []
        for i in range(n_cells):
            red = i in reductions
            if red:
                w = channels * growth
                if isinstance(w, float):
                    if not w.is_integer():
                        raise ValidationError(f"cell {i}: {channels} channels * growth {growth} is not an integer",
                                              lay.span)
                    w = int(w)
                if w > MAX_DIM:  # growth at every reduction can overflow any real width
                    raise ValidationError(f"cell {i}: the width grows to {min(w, 10**30):,}, over the limit "
                                          f"of {MAX_DIM:,}", lay.span, "use fewer reductions or a smaller growth")
                channels = w
            tmpl = templates["reduce" if red else "normal"]
            cell, out = self._cell(i, tmpl, red, channels, states)
            if cell is not None:
                cells.append(cell)
            states.append(out)

        head_ctx = CallContext(states[-1], classes, 1, True)
        head = self._head(("head",), m.head.op, head_ctx, "head", m.head.span, classes)
        aux = aux_after = None
        aux_weight = 0.0
        if m.aux is not None:
            aux_after = self._int(m.aux.after, "aux `after`", m.aux.span, minimum=0)
            if aux_after >= n_cells:
                raise ValidationError(f"aux head after cell {aux_after}, but the network has {n_cells} cells",
                                      m.aux.after.span or m.aux.span, f"use a cell index 0 .. {n_cells - 1}")
            wv = evaluate(m.aux.weight, self.params)
            if isinstance(wv, bool) or not isinstance(wv, (int, float)):
                raise ValidationError(f"aux weight must be a number, got {wv!r}", m.aux.weight.span or m.aux.span)
            aux_weight = float(wv)
            aux_ctx = CallContext(states[n_stem_states + aux_after], classes, 1, True)
            aux = self._head(("aux",), m.aux.op, aux_ctx, "aux", m.aux.span, classes)

        raise_all(self._errors())
        assert head is not None
        return Network(model=m, params=self.params, input_shape=input_shape, classes=classes,
                       stems=tuple(stems), cells=tuple(cells), head=head, aux=aux, aux_after=aux_after,
                       aux_weight=aux_weight, state_shapes=tuple(states))

    def _head(self, key: tuple[object, ...], call: OpCall, ctx: CallContext, site: str, span: Span | None,
              classes: int) -> Pipeline | None:
        try:
            p = self._site_pipeline(key, call, ctx, site, span, None)
        except _Failed:
            return None
        if p.out_shape != (classes, 1, 1):
            self._record(ShapeError(f"`{call.op}` gives {fmt_shape(p.out_shape)}, expected "
                                    f"{fmt_shape((classes, 1, 1))} (logits for {classes} classes)",
                                    hint="a head ends in `global_avg_pool` then `linear`"),
                         site, span or call.span, None)
            return None
        return p

    # -- one cell instance -----------------------------------------------------------------
    def _cell(self, i: int, t: Cell, red: bool, channels: int, states: list[Shape]) -> tuple[CellInst | None, Shape]:
        """Elaborate cell instance `i`; on errors return (None, a nominal output shape)."""
        k = len(t.inputs)
        n = len(states)
        sources = [0] * (k - n) + list(range(n)) if n < k else list(range(n - k, n))
        ok = True
        env: dict[str, Shape | None] = {}
        inputs: list[InputInst] = []
        last_h = states[sources[-1]][1] if sources else 1
        for ci, src in zip(t.inputs, sources):
            s = states[src]
            site = f"{t.name}.{ci.name}"
            if ci.op is None:
                inputs.append(InputInst(ci.name, src, None, s, s))
                env[ci.name] = s
                continue
            if s[1] < last_h:
                self._record(ShapeError(f"input {ci.name} is {s[1]}x{s[2]}, smaller than the last input "
                                        f"({last_h} high): preprocessing cannot enlarge it",
                                        hint="the earlier inputs of a cell must be at least as large as the last"),
                             site, ci.span, i)
                env[ci.name], ok = None, False
                continue
            ctx = CallContext(s, channels, max(1, s[1] // last_h), self.affine)
            try:
                p = self._site_pipeline(("input", t.name, ci.name), ci.op, ctx, site, ci.span, i)
            except _Failed:
                env[ci.name], ok = None, False
                continue
            inputs.append(InputInst(ci.name, src, p, s, p.out_shape))
            env[ci.name] = p.out_shape
        input_names = {ci.name for ci in t.inputs}

        nodes: list[NodeInst] = []
        for node in t.nodes:
            inst, shape = self._node(i, t, node, red, channels, env, input_names)
            env[node.name] = shape
            if inst is None:
                ok = False
            else:
                nodes.append(inst)

        out_shapes = []
        for name in t.output:
            if name not in env:
                self._record(NameResolutionError(f"unknown state `{name}` in the cell output", t.span,
                                                 did_you_mean(name, env)), f"{t.name}.output", t.span, i)
                ok = False
            elif env[name] is None:
                ok = False
            else:
                out_shapes.append(env[name])
        out: Shape | None = None
        if ok and out_shapes:
            out = self._combine_output(i, t, out_shapes)
        if out is None:
            # nominal shape (the DARTS convention) so that later cells can still be checked
            h = max(1, -(-last_h // 2)) if red else last_h
            last_w = states[sources[-1]][2] if sources else 1
            ww = max(1, -(-last_w // 2)) if red else last_w
            c = channels * len(t.output) if t.output_combine == "concat" else channels
            return None, (c, h, ww)
        return CellInst(i, t.name, red, channels, tuple(inputs), tuple(nodes), t.output, t.output_combine, out), out

    def _node(self, i: int, t: Cell, node: Node, red: bool, channels: int, env: dict[str, Shape | None],
              input_names: set[str]) -> tuple[NodeInst | None, Shape | None]:
        edges: list[EdgeInst] = []
        complete = True
        for j, e in enumerate(node.edges):
            tid = edge_id(t.name, node.name, j)
            if e.input not in env:
                self._record(NameResolutionError(f"unknown state `{e.input}`", e.span,
                                                 did_you_mean(e.input, env)
                                                 or "an edge reads a cell input or an earlier node"),
                             tid, e.span, i)
                complete = False
                continue
            s = env[e.input]
            if s is None:
                complete = False  # its input already failed: reported there
                continue
            ctx = CallContext(s, channels, 2 if red and e.input in input_names else 1, self.affine)
            try:
                if isinstance(e.op, Choice):
                    op: Pipeline | Mixed = self._mixed(tid, e.op, ctx, e.span, i)
                else:
                    op = self._site_pipeline(("edge", tid), e.op, ctx, tid, e.span, i)
            except _Failed:
                complete = False
                continue
            edges.append(EdgeInst(tid, instance_edge_id(i, node.name, j), e.input, op, e.drop_path, s,
                                  op.out_shape, e.span))
        site = f"{t.name}.{node.name}"
        if not node.edges:
            self._record(ValidationError(f"node {node.name} has no edges"), site, node.span, i)
            return None, None
        shape: Shape | None = None
        if edges:
            first = edges[0]
            for ed in edges[1:]:
                bad = (ed.out_shape != first.out_shape if node.combine == "sum"
                       else ed.out_shape[1:] != first.out_shape[1:])
                if bad:
                    need = "equal shapes" if node.combine == "sum" else "equal height and width"
                    self._record(ShapeError(
                        f"{node.combine} node {node.name} expects {fmt_shape(first.out_shape)} (the shape of "
                        f"{first.id}) but `{_op_name(ed.op)}({ed.input})` gives {fmt_shape(ed.out_shape)}",
                        hint=f"the edges of a {node.combine} node need {need}; check strides and widths"),
                        ed.id, ed.span or node.span, i)
                    return None, (first.out_shape if node.combine == "sum" else None)
            if node.combine == "sum":
                shape = first.out_shape
            else:
                cat = (sum(ed.out_shape[0] for ed in edges), first.out_shape[1], first.out_shape[2])
                shape = cat if node.combine == "concat" else (channels, cat[1], cat[2])
        if not complete:
            # partial: a sum or proj node still has a trustworthy shape for later checks
            return None, (shape if node.combine != "concat" else None)
        assert shape is not None
        proj = None
        if node.combine == "proj":
            proj = self._proj(t, node, cat, channels)  # type: ignore[possibly-undefined]
            shape = proj.out_shape
        return NodeInst(node.name, tuple(edges), node.combine, node.keep, shape, proj, node.span), shape

    def _combine_output(self, i: int, t: Cell, shapes: list[Shape]) -> Shape | None:
        """The cell output: `concat` or `sum` of the output states (None after recording an error)."""
        first = shapes[0]
        for name, s in zip(t.output[1:], shapes[1:]):
            bad = s != first if t.output_combine == "sum" else s[1:] != first[1:]
            if bad:
                need = "equal shapes" if t.output_combine == "sum" else "equal height and width"
                self._record(ShapeError(
                    f"the output {t.output_combine} expects {fmt_shape(first)} (the shape of {t.output[0]}) "
                    f"but {name} is {fmt_shape(s)}", hint=f"a cell output {t.output_combine} needs {need}"),
                    f"{t.name}.output", t.span, i)
                return None
        if t.output_combine == "sum":
            return first
        return (sum(s[0] for s in shapes), first[1], first[2])

    def _proj(self, t: Cell, node: Node, cat: Shape, channels: int) -> Pipeline:
        """The 1x1 conv + bn of a `proj` combine, from the concatenated edges to the cell's channel count."""
        key = ("proj", t.name, node.name, cat, channels)
        hit = self.memo.get(key)
        if not isinstance(hit, Pipeline):
            conv, bn = get_primitive("conv"), get_primitive("bn")
            cp = conv.Params(out=channels, k=1)
            mid = conv.infer_shape(cp, (cat,))
            calls = (PrimCall("conv", cp, (cat,), mid, "proj/0:conv", node.span),
                     PrimCall("bn", bn.Params(affine=self.affine), (mid,), mid, "proj/1:bn", node.span))
            hit = self.memo[key] = Pipeline(OpCall(op="proj", span=node.span), calls, cat, mid)
        return hit


def _op_name(op: Pipeline | Mixed) -> str:
    return op.call.op if isinstance(op, Pipeline) else "choice"
