"""Structural checks of a `Model`: `verify(model, primitives) -> list[NascError]` (empty when valid).

`primitives` maps primitive op names to their specs (`nasc.ops.registry.primitive_table()`); the
IR does not import the op registry, the caller hands it in.

Checked here, so both front ends (and every pass, between passes) report them alike:
- names: duplicate params, ops (per module), cells, cell inputs and nodes; unknown ops (with a
  did-you-mean over primitives, composites and choices); unknown argument names of primitive and
  composite calls and missing required arguments; unknown names in expressions;
- cells: a node reads only the cell inputs and earlier nodes (so cells are DAGs; a node reading
  itself or a later node is reported as a cycle); nodes have edges and `1 <= keep <= edges`;
  choices have candidates and all choices of one cell template the same number of them;
  returned states exist; ops in an edge or a pipeline take one input;
- composites: no op calls itself, directly or through others;
- network: the layout's cell templates exist; cells, channels, classes, input, reductions,
  growth and the aux head evaluate to values in range (reductions inside the network, not
  repeated).

`lint(model)` returns warnings that do not make a model invalid (nodes whose output is unused).
Shapes are `nasc.analysis.elaborate`'s job. Every error carries the span of the IR node at fault.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from nasc.errors import NameResolutionError, NascError, ValidationError, did_you_mean
from nasc.ir.expr import BinOp, Expr, Neg, Ref, TupleExpr, evaluate
from nasc.ir.macro import default_reductions
from nasc.ir.model import LOCAL_MODULE, Cell, Choice, IfStmt, Model, OpCall, OpDef, Stmt
from nasc.ir.names import CONTEXT_NAMES, RESERVED, name_problem
from nasc.limits import MAX_DIM, RAISE_HINT, current as current_limits, format_size
from nasc.source import Span

MAX_CELLS = 10_000  # kept for importers; the check uses `nasc.limits.current().max_cells`


class PrimitiveSpec(Protocol):
    """What verification needs of a primitive (`nasc.ops.registry.Primitive` has it): its
    arity (None: variadic), its params model and the params the call context fills in."""

    arity: ClassVar[int | None]
    Params: ClassVar[type[BaseModel]]
    context_defaults: ClassVar[Mapping[str, str]]


class UnusedNodeWarning(ValidationError):
    """A node whose output no other node reads and the cell does not return (dead computation)."""

    kind = "warning"


def refs(e: Expr) -> Iterator[Ref]:
    """Every `Ref` in an expression (iteratively: expressions may be deep)."""
    stack: list[Any] = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, Ref):
            yield x
        elif isinstance(x, BinOp):
            stack += [x.rhs, x.lhs]
        elif isinstance(x, Neg):
            stack.append(x.operand)
        elif isinstance(x, TupleExpr):
            stack += reversed(x.items)


def _dups(items: Iterable[tuple[str, Span | None]], what: str, errors: list[NascError]) -> None:
    seen: dict[str, Span | None] = {}
    for name, span in items:
        if name in seen:
            first = seen[name]
            where = f"first defined at line {first.line}" if first else None
            errors.append(NameResolutionError(f"duplicate {what} `{name}`", span, where))
        else:
            seen[name] = span


HINTED_UNKNOWN_OPS = 50  # unknown op names that get a did-you-mean hint in one verify


class _Verifier:
    def __init__(self, model: Model, primitives: Mapping[str, PrimitiveSpec]) -> None:
        self.m = model
        self.errors: list[NascError] = []
        self.prims = primitives
        self.ops: dict[str, OpDef] = {}
        for d in model.ops:  # last definition wins: local ops shadow imported ones
            self.ops[d.name] = d
        self.params = {p.name: p.default for p in model.params}
        self.choice_names = sorted({e.op.name for c in model.cells for n in c.nodes for e in n.edges
                                    if isinstance(e.op, Choice) and e.op.name})
        self._hinted = 0
        self._known: list[str] | None = None

    def err(self, e: NascError) -> None:
        self.errors.append(e)

    def suggest_op(self, name: str) -> str | None:
        """A did-you-mean hint for an unknown op name. The candidate list is built once, and
        after `HINTED_UNKNOWN_OPS` hints no more are computed: a source with thousands of
        unknown names stays linear (each hint compares against every known name)."""
        self._hinted += 1
        if self._hinted > HINTED_UNKNOWN_OPS:
            return None
        if self._known is None:
            self._known = [*self.prims, *self.ops, *self.choice_names]
        return did_you_mean(name, self._known)

    # -- expressions and calls --
    def check_refs(self, e: Expr, allowed: Iterable[str], fallback: Span | None, where: str) -> None:
        allowed = set(allowed)
        for r in refs(e):
            if r.name not in allowed:
                self.err(NameResolutionError(f"unknown name `{r.name}` in {where}", r.span or fallback,
                                             did_you_mean(r.name, allowed)))

    def check_call(self, call: OpCall, allowed: Iterable[str], where: str) -> None:
        """The op exists, takes one input, and gets only arguments it declares."""
        allowed = set(allowed)
        for name, value in call.args.items():
            self.check_refs(value, allowed, call.span, f"argument `{name}` of `{call.op}`")
        name = call.op
        if name in self.ops:
            d = self.ops[name]
            declared = [p.name for p in d.params]
            for a in call.args:
                if a not in declared and a not in CONTEXT_NAMES:
                    self.err(NameResolutionError(
                        f"op `{name}` has no parameter `{a}`", call.span,
                        did_you_mean(a, [*declared, *CONTEXT_NAMES])
                        or (f"its parameters: {', '.join(declared)}" if declared else "it declares none")))
            for p in d.params:
                if p.default is None and p.name not in call.args:
                    self.err(ValidationError(f"op `{name}` needs argument `{p.name}`", call.span,
                                             f"write e.g. `{name}({p.name}=...)`"))
            return
        if name in self.prims:
            prim = self.prims[name]
            if prim.arity not in (None, 1):
                self.err(ValidationError(f"`{name}` takes {prim.arity} inputs; {where} gives it one",
                                         call.span))
            fields = prim.Params.model_fields
            for a in call.args:
                if a not in fields:
                    self.err(NameResolutionError(
                        f"primitive `{name}` has no parameter `{a}`", call.span,
                        did_you_mean(a, fields) or (f"its parameters: {', '.join(fields)}" if fields
                                                    else "it takes none")))
            for f, info in fields.items():
                if info.is_required() and f not in call.args and f not in prim.context_defaults:
                    self.err(ValidationError(f"primitive `{name}` needs argument `{f}`", call.span,
                                             f"write e.g. `{name}({f}=...)`"))
            return
        hint = self.suggest_op(name)
        if hint is None and not self.m.imports:
            hint = "nothing is imported: add `import std` for the standard ops"
        self.err(NameResolutionError(f"unknown op `{name}` in {where}", call.span, hint))

    # -- params and composite ops --
    def check_params(self) -> None:
        _dups(((p.name, p.span) for p in self.m.params), "param", self.errors)
        for p in self.m.params:
            if p.name in CONTEXT_NAMES:
                self.err(NameResolutionError(f"param `{p.name}` has the name of an op context value",
                                             p.span, f"context names ({', '.join(CONTEXT_NAMES)}) are "
                                             "set per call; pick another name"))

    def check_ops(self) -> None:
        by_module: dict[str, list[OpDef]] = {}
        for d in self.m.ops:
            by_module.setdefault(d.module, []).append(d)
        for defs in by_module.values():
            _dups(((d.name, d.span) for d in defs), "op", self.errors)
        for d in self.m.ops:
            if d.name in self.prims:
                self.err(NameResolutionError(f"op `{d.name}` has the name of a primitive", d.span,
                                             "primitives cannot be redefined; pick another name"))
            _dups(((p.name, p.span) for p in d.params), f"parameter of op `{d.name}`", self.errors)
            base = [*self.params, *CONTEXT_NAMES]
            for i, p in enumerate(d.params):
                if p.default is not None:
                    earlier = [q.name for q in d.params[:i]]
                    self.check_refs(p.default, [*base, *earlier], p.span,
                                    f"the default of `{p.name}` in op `{d.name}`")
            allowed = [*base, *(p.name for p in d.params)]
            self.check_body(d.body, allowed, d)
        self.check_recursion()

    def check_body(self, body: tuple[Stmt, ...], allowed: list[str], d: OpDef) -> None:
        for s in body:
            if isinstance(s, IfStmt):
                self.check_refs(s.cond, allowed, s.span, f"the condition in op `{d.name}`")
                self.check_body(s.then, allowed, d)
                self.check_body(s.orelse, allowed, d)
            else:
                self.check_call(s, allowed, f"op `{d.name}`")

    def check_recursion(self) -> None:
        def callees(body: tuple[Stmt, ...]) -> Iterator[str]:
            for s in body:
                if isinstance(s, IfStmt):
                    yield from callees(s.then)
                    yield from callees(s.orelse)
                elif s.op in self.ops:
                    yield s.op

        graph = {name: list(dict.fromkeys(callees(d.body))) for name, d in self.ops.items()}
        state: dict[str, int] = {}  # 1: on the DFS path, 2: done
        reported: set[frozenset[str]] = set()
        for root in graph:
            if state.get(root):
                continue
            path: list[str] = []
            stack: list[tuple[str, Iterator[str]]] = [(root, iter(graph[root]))]
            state[root] = 1
            path.append(root)
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    path.pop()
                    state[node] = 2
                    continue
                if state.get(nxt) == 1:
                    cycle = path[path.index(nxt):] + [nxt]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        self.err(ValidationError(f"op `{nxt}` is recursive: {' -> '.join(cycle)}",
                                                 self.ops[nxt].span, "composite ops must not call themselves"))
                elif not state.get(nxt):
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append((nxt, iter(graph[nxt])))

    # -- cells --
    def check_cell(self, cell: Cell) -> None:
        allowed = [*self.params, *CONTEXT_NAMES]
        where = f"cell `{cell.name}`"
        if not cell.inputs:
            self.err(ValidationError(f"cell `{cell.name}` has no inputs", cell.span,
                                     "a cell reads the outputs of the previous cells: `cell c(s0, s1) {...}`"))
        _dups(((i.name, i.span) for i in cell.inputs), f"input of cell `{cell.name}`", self.errors)
        for inp in cell.inputs:
            if inp.op is not None:
                self.check_call(inp.op, allowed, f"the preprocessing of `{inp.name}`")
        positions = {n.name: i for i, n in enumerate(cell.nodes)}
        available = {i.name for i in cell.inputs}
        input_names = set(available)
        seen_nodes: dict[str, Span | None] = {}
        choice_count: tuple[int, Span | None] | None = None
        for idx, node in enumerate(cell.nodes):
            if node.name in input_names:
                self.err(NameResolutionError(f"node `{node.name}` has the name of an input of cell `{cell.name}`",
                                             node.span))
            elif node.name in seen_nodes:
                first = seen_nodes[node.name]
                self.err(NameResolutionError(f"duplicate node `{node.name}` in cell `{cell.name}`", node.span,
                                             f"first defined at line {first.line}" if first else None))
            if not node.edges:
                self.err(ValidationError(f"node `{node.name}` has no edges", node.span))
            if node.keep is not None and not 1 <= node.keep <= len(node.edges):
                self.err(ValidationError(
                    f"node `{node.name}` keeps {node.keep} of its {len(node.edges)} edges", node.span,
                    f"`keep` must be between 1 and {len(node.edges)}"))
            for e in node.edges:
                span = e.span or node.span
                if e.input not in available:
                    if e.input == node.name:
                        self.err(ValidationError(f"node `{node.name}` reads itself (a cycle)", span,
                                                 "a node may read the cell inputs and earlier nodes only"))
                    elif e.input in positions and positions[e.input] > idx:
                        self.err(ValidationError(
                            f"node `{node.name}` reads `{e.input}`, which is defined later (a cycle)", span,
                            f"define `{e.input}` before `{node.name}`: nodes may read the cell inputs and "
                            "earlier nodes only"))
                    else:
                        hint = did_you_mean(e.input, available)
                        if e.input in self.ops or e.input in self.prims:
                            hint = f"`{e.input}` is an op: write `{e.input}(state)`"
                        self.err(NameResolutionError(f"unknown state `{e.input}` in {where}", span,
                                                     hint or f"states here: {', '.join(sorted(available))}"))
                if isinstance(e.op, Choice):
                    n = len(e.op.candidates)
                    if n == 0:
                        self.err(ValidationError("a choice needs at least one candidate", e.op.span or span))
                    elif choice_count is None:
                        choice_count = (n, e.op.span or span)
                    elif n != choice_count[0]:
                        first = choice_count[1]
                        self.err(ValidationError(
                            f"choice with {n} candidates in cell `{cell.name}`, whose first choice has "
                            f"{choice_count[0]}", e.op.span or span,
                            "all choices of a cell template need the same number of candidates"
                            + (f" (first at line {first.line})" if first else "")))
                    for cand in e.op.candidates:
                        self.check_call(cand, allowed, where)
                else:
                    self.check_call(e.op, allowed, where)
            available.add(node.name)
            seen_nodes.setdefault(node.name, node.span)
        if not cell.output:
            self.err(ValidationError(f"cell `{cell.name}` returns nothing", cell.span,
                                     "end it with e.g. `return concat(n0, n1)`"))
        for o in cell.output:
            if o not in available:
                self.err(NameResolutionError(f"cell `{cell.name}` returns unknown state `{o}`", cell.span,
                                             did_you_mean(o, available)))

    # -- network --
    def value(self, e: Expr, what: str, fallback: Span | None) -> Any:
        """Evaluate a network-level expression in the param environment (None on error)."""
        try:
            return evaluate(e, self.params)  # type: ignore[arg-type]
        except NascError as err:
            if err.span is None:
                err.span = e.span or fallback
            err.message = f"{err.message} in `{what}`"
            self.err(err)
        except (RecursionError, ValueError, OverflowError):
            self.err(ValidationError(f"cannot evaluate `{what}`", e.span or fallback))
        return None

    def int_in(self, e: Expr, what: str, lo: int, hi: int | None, fallback: Span | None,
               hint: str | None = None) -> int | None:
        v = self.value(e, what, fallback)
        if v is None:
            return None
        if not isinstance(v, int) or isinstance(v, bool):
            self.err(ValidationError(f"`{what}` must be an integer, got {v!r}", e.span or fallback,
                                     "use `//` for integer division"))
            return None
        if v < lo or (hi is not None and v > hi):
            if hi == MAX_DIM:  # a size: the upper bound only matters when it is the problem
                rng = f"at least {lo}" if v < lo else f"at most {hi:,} (the largest tensor dimension)"
            else:
                rng = f"between {lo} and {hi:,}" if hi is not None else f"at least {lo}"
            shown = f"{v}" if abs(v) < 10**30 else f"~10^{len(str(abs(v))) - 1}" if abs(v) < 10**4000 else "huge"
            self.err(ValidationError(f"`{what}` is {shown}; it must be {rng}", e.span or fallback, hint))
            return None
        return v

    def check_network(self) -> None:
        m, lay = self.m, self.m.layout
        net_span = lay.span or m.span
        allowed = [*self.params, *CONTEXT_NAMES]
        for s in m.stems:
            self.check_call(s, allowed, "the stem")
        if not m.stems:
            self.err(ValidationError("the network has no stem", m.span,
                                     "add e.g. `stem = cifar_stem(C_out=C * 3)`"))
        self.check_call(m.head.op, allowed, "the head")
        for i, e in enumerate(m.input):
            self.int_in(e, ("channels", "height", "width")[i] + " of `input`", 1, MAX_DIM, m.span)
        self.int_in(m.classes, "classes", 1, MAX_DIM, m.span)
        self.int_in(lay.channels, "channels", 1, MAX_DIM, net_span)
        lim = current_limits()  # the cell count elaboration accepts derives from the memory limit
        n = self.int_in(lay.cells, "cells", 1, lim.max_cells, net_span,
                        f"the limit is 1 cell per MiB of the memory limit ({format_size(lim.max_memory)}, "
                        f"{lim.source}); {RAISE_HINT}")
        growth = self.value(lay.growth, "growth", net_span)
        if growth is not None and (isinstance(growth, bool) or not isinstance(growth, (int, float))
                                   or growth <= 0):
            self.err(ValidationError(f"`growth` must be a positive number, got {growth!r}",
                                     lay.growth.span or net_span))
        reductions: list[int] = []
        if lay.reductions is None:
            if n is not None:
                reductions = list(default_reductions(n))
        else:
            seen: set[int] = set()
            for r in lay.reductions:
                v = self.int_in(r, "reductions", 0, None, net_span)
                if v is None:
                    continue
                if n is not None and v >= n:
                    self.err(ValidationError(f"reduction at cell {v}, but the network has {n} cells "
                                             f"(0 to {n - 1})", r.span or net_span))
                elif v in seen:
                    self.err(ValidationError(f"reduction at cell {v} is listed twice", r.span or net_span))
                seen.add(v)
                reductions.append(v)
        templates = {c.name for c in m.cells}
        needs_normal = n is None or len(set(reductions)) < n
        for key, name, needed in (("normal", lay.normal, needs_normal), ("reduce", lay.reduce, bool(reductions))):
            if needed and name not in templates:
                hint = did_you_mean(name, templates) or (
                    f"define `cell {name}(s0, s1) {{ ... }}`" + (f" or set `{key} = <cell>` in the network"
                                                                  if templates else ""))
                self.err(NameResolutionError(f"the network uses cell template `{name}`, which is not defined",
                                             net_span, hint))
        if m.aux is not None:
            self.check_call(m.aux.op, allowed, "the aux head")
            hi = n - 1 if n is not None else None
            self.int_in(m.aux.after, "aux ... after", 0, hi, m.aux.span)
            w = self.value(m.aux.weight, "aux ... weight", m.aux.span)
            if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0):
                self.err(ValidationError(f"the aux weight must be a number >= 0, got {w!r}",
                                         m.aux.weight.span or m.aux.span))

    def check_names(self) -> None:
        """Every name the printer writes as a `NAME` token must read back as one."""
        named: list[tuple[str, str, Span | None]] = [
            (f"param `{p.name}`", p.name, p.span) for p in self.m.params]
        for d in self.m.ops:
            if d.module == LOCAL_MODULE:  # imported ops were checked in their own file
                named.append((f"op `{d.name}`", d.name, d.span))
                named += [(f"param `{p.name}` of op `{d.name}`", p.name, p.span or d.span)
                          for p in d.params]
        for c in self.m.cells:
            named.append((f"cell `{c.name}`", c.name, c.span))
            named += [(f"input `{i.name}` of cell `{c.name}`", i.name, i.span or c.span)
                      for i in c.inputs]
            named += [(f"node `{n.name}` of cell `{c.name}`", n.name, n.span or c.span)
                      for n in c.nodes]
        for what, name, span in named:
            problem = name_problem(name)
            if problem is not None:
                self.err(ValidationError(f"{what} {problem}", span,
                                         f"rename it (reserved: {', '.join(RESERVED)})"
                                         if name in RESERVED else "rename it"))

    def run(self, network: bool = True) -> list[NascError]:
        self.check_names()
        self.check_params()
        self.check_ops()
        _dups(((c.name, c.span) for c in self.m.cells), "cell", self.errors)
        for c in self.m.cells:
            self.check_cell(c)
        if network:
            self.check_network()
        return sorted(self.errors, key=lambda e: e.sort_key())


def verify(model: Model, primitives: Mapping[str, PrimitiveSpec], *, network: bool = True) -> list[NascError]:
    """Every structural error of `model`, sorted by position (empty when the model is valid).

    `primitives` maps primitive names to their specs (`nasc.ops.registry.primitive_table()`).

    `network=False` skips the network-level checks (the front end uses it to keep reporting the
    errors in cells and ops when the network block itself could not be built).
    """
    return _Verifier(model, primitives).run(network)


def lint(model: Model) -> list[NascError]:
    """Warnings: nodes whose output is neither read by a later node nor returned by the cell."""
    out: list[NascError] = []
    for cell in model.cells:
        used = set(cell.output) | {e.input for n in cell.nodes for e in n.edges}
        for node in cell.nodes:
            if node.name not in used:
                out.append(UnusedNodeWarning(
                    f"the output of node `{node.name}` in cell `{cell.name}` is never used", node.span,
                    "return it or read it from another node, or delete it"))
    return out
