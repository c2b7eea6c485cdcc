"""SourceFile -> Model: builds the IR of a parsed .nas file, collecting every error it finds.

Unknown or duplicate network keys, malformed edges, duplicate choices, misplaced combiners, ...
are collected into one `Diagnostics`. Name resolution of ops and states is `nasc.ir.verify`'s job,
so the .nas and YAML front ends report them the same way.
"""
from __future__ import annotations

from typing import Any

from nasc.errors import Diagnostics, NameResolutionError, NascError, ParseError, ValidationError, did_you_mean
from nasc.frontend.raw import (
    Call, CellDef, ChoiceDef, EmptyTuple, Entry, InlineChoice, Kwarg, NetworkDef, NodeStmt, ReturnStmt, SourceFile,
    Term,
)
from nasc.frontend.transform import op_call
from nasc.ir.expr import Expr, Lit, Ref, TupleExpr
from nasc.ir.model import AuxHead, Cell, CellInput, Choice, Edge, Head, Layout, Model, Node, OpCall, OpDef, Param
from nasc.source import Span

COMBINERS = ("sum", "concat", "proj")
NETWORK_KEYS = ("input", "classes", "stem", "cells", "channels", "reductions", "normal", "reduce",
                "growth", "head", "aux", "affine")
REQUIRED_KEYS = ("input", "classes", "stem", "cells", "channels", "head")


class ModelBuilder:
    """Builds the `Model` of a `SourceFile`, collecting errors."""

    def __init__(self, src: SourceFile, imported_ops: tuple[OpDef, ...]) -> None:
        self.src = src
        self.imported = imported_ops
        self.errors: list[NascError] = list(src.errors)
        self.choices: dict[str, ChoiceDef] = {}

    def err(self, error: NascError) -> None:
        self.errors.append(error)

    # -- choices --
    def collect_choices(self) -> None:
        op_names = {d.name: d for d in (*self.imported, *self.src.ops)}
        for c in self.src.choices:
            if c.name in self.choices:
                first = self.choices[c.name].span
                self.err(NameResolutionError(f"choice `{c.name}` is defined twice", c.span,
                                             f"first defined at line {first.line}"))
                continue
            if c.name in op_names:
                self.err(NameResolutionError(
                    f"choice `{c.name}` has the name of an op", c.span,
                    "rename the choice: an edge `name(state)` must say unambiguously what it is"))
            if c.name in COMBINERS:
                self.err(NameResolutionError(f"`{c.name}` is a combiner and cannot name a choice", c.span))
            self.choices[c.name] = c

    def candidates(self, calls: list[Call]) -> tuple[OpCall, ...]:
        out = []
        for c in calls:
            if c.name in self.choices:
                self.err(ValidationError(f"choice `{c.name}` cannot be a candidate of another choice",
                                         c.span, "list its candidates instead"))
            out.append(op_call(c, self.errors, "candidates of a choice"))
        return tuple(out)

    # -- cells --
    def edge(self, term: Term) -> Edge | None:
        """One edge: a bare state (identity), `op(state, k=v)` or `[a, b](state)`."""
        if isinstance(term, Call) and term.args is None:
            if term.name in self.choices:
                self.err(ParseError(f"choice `{term.name}` needs an input state: `{term.name}(s0)`",
                                    term.span))
            return Edge(input=term.name, op=OpCall(op="identity", span=term.span), span=term.span)
        args = term.args or []
        label = term.name if isinstance(term, Call) else "[...]"
        states = [a for a in args if not isinstance(a, Kwarg)]
        kwargs = [a for a in args if isinstance(a, Kwarg)]
        if not states:
            self.err(ParseError(f"edge `{label}(...)` needs an input state", term.span,
                                f"the first argument is the state it reads: `{label}(s0)`"))
            return None
        if len(states) > 1:
            self.err(ParseError(f"an edge reads one state, `{label}` is given {len(states)}", states[1].span,
                                "sum edges with `+`, or combine them with `concat(...)` / `proj(...)`"))
            return None
        state = states[0]
        if not isinstance(state, Call) or state.args is not None:
            self.err(ParseError("ops cannot be nested: the input of an edge is a state name", state.span,
                                "give the inner op a node of its own, or define a composite op"))
            return None
        drop_path = False
        op_args: dict[str, Expr] = {}
        for k in kwargs:
            if k.name == "drop_path":
                if not isinstance(k.value, Lit) or not isinstance(k.value.value, bool):
                    self.err(ValidationError("`drop_path` must be true or false", k.span))
                else:
                    drop_path = k.value.value
            elif k.name in op_args:
                self.err(NameResolutionError(f"argument `{k.name}` given twice", k.span))
            else:
                op_args[k.name] = k.value
        op: OpCall | Choice
        if isinstance(term, InlineChoice):
            if op_args:
                self.err(ParseError("a choice edge takes no arguments besides its state", term.span,
                                    "give the arguments to the candidates: `[conv_bn(k=1), ...]`"))
            op = Choice(candidates=self.candidates(term.candidates), span=term.span)
        elif term.name in self.choices:
            if op_args:
                self.err(ParseError(f"choice edge `{term.name}` takes no arguments besides its state",
                                    term.span, "give the arguments to the candidates in the choice"))
            op = Choice(candidates=self.candidates(self.choices[term.name].candidates),
                        name=term.name, span=term.span)
        else:
            op = OpCall(op=term.name, args=op_args, span=term.span)
        return Edge(input=state.name, op=op, drop_path=drop_path, span=term.span)

    def node(self, stmt: NodeStmt) -> Node:
        terms = stmt.terms
        combine = "sum"
        first = terms[0]
        if isinstance(first, Call) and first.args is not None and first.name in COMBINERS \
                and first.name not in self.choices:
            if len(terms) > 1:
                self.err(ParseError(f"`{first.name}(...)` combines the whole node and cannot be summed",
                                    terms[1].span, f"put every edge inside `{first.name}(...)`"))
            combine = first.name
            terms = []
            for a in first.args:
                if isinstance(a, Kwarg):
                    self.err(ParseError(f"`{first.name}` takes edges, not arguments", a.span))
                else:
                    terms.append(a)
            if not terms:
                self.err(ValidationError(f"`{first.name}()` needs at least one edge", first.span))
        else:
            for t in terms[1:]:
                if isinstance(t, Call) and t.args is not None and t.name in COMBINERS:
                    self.err(ParseError(f"`{t.name}(...)` combines the whole node and cannot be summed",
                                        t.span, f"put every edge inside `{t.name}(...)`"))
        edges = [e for e in (self.edge(t) for t in terms) if e is not None]
        return Node(name=stmt.name, edges=tuple(edges), combine=combine, keep=stmt.keep,  # type: ignore[arg-type]
                    span=stmt.span)

    def output(self, ret: ReturnStmt) -> tuple[tuple[str, ...], str]:
        terms = ret.terms
        first = terms[0]
        if len(terms) == 1 and isinstance(first, Call) and first.args is not None:
            if first.name not in ("concat", "sum"):
                self.err(ParseError(
                    f"`return {first.name}(...)`: a cell returns states", first.span,
                    "write `return n3`, `return concat(n0, n1)` or `return sum(n0, n1)`; "
                    "apply ops in a node"))
                return (), "concat"
            names = []
            for a in first.args:
                if isinstance(a, Call) and a.args is None:
                    names.append(a.name)
                else:
                    self.err(ParseError(f"`{first.name}` in `return` takes state names", a.span,
                                        "apply ops in a node and return the node"))
            return tuple(names), first.name
        names = []
        for t in terms:
            if isinstance(t, Call) and t.args is None:
                names.append(t.name)
            else:
                self.err(ParseError("a cell returns states", t.span,
                                    "write `return n3`, `return concat(n0, n1)` or `return n0 + n1`"))
        return tuple(names), ("sum" if len(terms) > 1 else "concat")

    def cell(self, c: CellDef) -> Cell:
        inputs = []
        for name, call, span in c.inputs:
            op = None
            if call is not None:
                if call.name in self.choices:
                    self.err(ParseError("a cell input cannot be preprocessed by a choice", call.span))
                op = op_call(call, self.errors, "preprocessing ops")
            inputs.append(CellInput(name=name, op=op, span=span))
        nodes: list[Node] = []
        ret: ReturnStmt | None = None
        for s in c.stmts:
            if isinstance(s, ReturnStmt):
                if ret is not None:
                    self.err(ParseError(f"cell `{c.name}` has two `return`s", s.span))
                ret = s
            elif ret is not None:
                self.err(ParseError(f"node `{s.name}` comes after `return`", s.span,
                                    "`return` is the last statement of a cell"))
            else:
                nodes.append(self.node(s))
        output: tuple[str, ...] = ()
        combine = "concat"
        if ret is None:
            self.err(ParseError(f"cell `{c.name}` has no `return`", c.span,
                                "end the cell with e.g. `return concat(n0, n1, n2, n3)`"))
        else:
            output, combine = self.output(ret)
        return Cell(name=c.name, inputs=tuple(inputs), nodes=tuple(nodes), output=output,
                    output_combine=combine, span=c.span)  # type: ignore[arg-type]

    # -- network --
    def op_value(self, e: Entry) -> OpCall | None:
        v = e.value
        if isinstance(v, Call):
            return op_call(v, self.errors, f"ops in `{e.key}`")
        if isinstance(v, Ref):
            return OpCall(op=v.name, span=v.span)
        self.err(ValidationError(f"`{e.key}` must be an op, e.g. `{e.key} = classifier`", e.value_span))
        return None

    def expr_value(self, e: Entry) -> Expr | None:
        if isinstance(e.value, (Call, EmptyTuple)):
            what = "an op call" if isinstance(e.value, Call) else "`()`"
            self.err(ValidationError(f"`{e.key}` takes an expression, not {what}", e.value_span))
            return None
        return e.value

    def network(self, net: NetworkDef, cells: list[Cell], params: list[Param], ops: list[OpDef]) -> Model | None:
        seen: dict[str, Entry] = {}
        stems: list[OpCall] = []
        for e in net.entries:
            if e.key not in NETWORK_KEYS:
                self.err(NameResolutionError(
                    f"unknown network key `{e.key}`", e.key_span,
                    did_you_mean(e.key, NETWORK_KEYS) or "known keys: " + ", ".join(NETWORK_KEYS)))
                continue
            if e.key != "aux" and (e.after is not None or e.weight is not None):
                self.err(ParseError(f"`after`/`weight` belong to `aux`, not `{e.key}`", e.value_span))
            if e.key == "stem":
                call = self.op_value(e)
                if call is not None:
                    stems.append(call)
                continue
            if e.key in seen:
                self.err(NameResolutionError(f"network key `{e.key}` is given twice", e.key_span,
                                             f"first given at line {seen[e.key].key_span.line}"))
                continue
            seen[e.key] = e
        missing = [k for k in REQUIRED_KEYS if k not in seen and not (k == "stem" and stems)]
        for k in missing:
            example = {"input": "input = (3, 32, 32)", "classes": "classes = 10",
                       "stem": "stem = cifar_stem(C_out=C * 3)", "cells": "cells = 8",
                       "channels": "channels = 16", "head": "head = classifier"}[k]
            self.err(ValidationError(f"network `{net.name}` has no `{k}`", net.span, f"add `{example}`"))

        def expr(key: str) -> Expr | None:
            return self.expr_value(seen[key]) if key in seen else None

        input_shape: tuple[Expr, Expr, Expr] | None = None
        if "input" in seen:
            v = expr("input")
            if isinstance(v, TupleExpr) and len(v.items) == 3:
                input_shape = (v.items[0], v.items[1], v.items[2])
            elif v is not None:
                self.err(ValidationError("`input` must be a (channels, height, width) tuple",
                                         seen["input"].value_span, "write e.g. `input = (3, 32, 32)`"))
        reductions: tuple[Expr, ...] | None = None
        if "reductions" in seen:
            e = seen["reductions"]
            if isinstance(e.value, EmptyTuple):
                reductions = ()
            elif isinstance(e.value, TupleExpr):
                reductions = e.value.items
            else:
                v = self.expr_value(e)
                reductions = (v,) if v is not None else None
        names: dict[str, str] = {}
        for key in ("normal", "reduce"):
            if key in seen:
                v = seen[key].value
                if isinstance(v, Ref):
                    names[key] = v.name
                else:
                    self.err(ValidationError(f"`{key}` names a cell template, e.g. `{key} = {key}`",
                                             seen[key].value_span))
        affine = True
        if "affine" in seen:
            v = seen["affine"].value
            if isinstance(v, Lit) and isinstance(v.value, bool):
                affine = v.value
            else:
                self.err(ValidationError("`affine` must be true or false", seen["affine"].value_span))
        head = self.op_value(seen["head"]) if "head" in seen else None
        aux = None
        if "aux" in seen:
            e = seen["aux"]
            call = self.op_value(e)
            if e.after is None:
                self.err(ValidationError("`aux` needs the cell it reads: `aux = OP after CELL_INDEX`",
                                         e.value_span,
                                         "write e.g. `aux = cifar_aux after 2 * layers // 3 weight 0.4`"))
            elif call is not None:
                extra = {"weight": e.weight} if e.weight is not None else {}
                aux = AuxHead(op=call, after=e.after, span=e.span, **extra)
        cells_e, channels_e, classes_e = expr("cells"), expr("channels"), expr("classes")
        growth = expr("growth") if "growth" in seen else None
        if None in (input_shape, cells_e, channels_e, classes_e, head) or not stems or \
                (growth is None and "growth" in seen):
            return None
        layout_extra: dict[str, Any] = dict(names)
        if growth is not None:
            layout_extra["growth"] = growth
        layout = Layout(cells=cells_e, channels=channels_e, reductions=reductions, span=net.span,
                        **layout_extra)
        return Model(name=net.name, imports=tuple(i.name for i in self.src.imports), params=tuple(params),
                     ops=tuple(ops), input=input_shape, classes=classes_e, stems=tuple(stems),
                     cells=tuple(cells), layout=layout, head=Head(op=head, span=seen["head"].span), aux=aux,
                     affine=affine, span=net.span)

    def build(self) -> Model:
        src = self.src
        self.collect_choices()
        cells = [self.cell(c) for c in src.cells]
        ops = [*self.imported, *src.ops]
        model = None
        if not src.networks:
            where = Span(file=src.file, line=1, col=1, end_line=1, end_col=2)
            self.err(ValidationError("the file defines no `network`", where,
                                     "add `network NAME { input = ... cells = ... }`; "
                                     "files with only ops are libraries: `import` them"))
        for extra in src.networks[1:]:
            self.err(NameResolutionError(f"a file defines one network; `{extra.name}` is a second one",
                                         extra.span, f"first one: `{src.networks[0].name}`"))
        if src.networks:
            model = self.network(src.networks[0], cells, list(src.params), ops)
        if self.errors or model is None:
            self.errors.extend(self.partial_verify(cells, ops))
            raise Diagnostics(self.errors or [ValidationError("invalid network", None)])
        return model

    def partial_verify(self, cells: list[Cell], ops: list[OpDef]) -> list[NascError]:
        """When the network cannot be built, still check the params, ops and cells (unless an
        error was found inside a cell already: its half-built nodes would only add noise)."""
        from nasc.ir.verify import verify
        from nasc.ops.registry import primitive_table

        cell_lines = [(s, e) for kind, _, s, e in self.src.items if kind == "cell"]
        for err in self.errors:
            if err.span is not None and any(s <= err.span.line <= e for s, e in cell_lines):
                return []
        one = Lit(value=1)
        stub = Model(name=self.src.networks[0].name if self.src.networks else "_", params=tuple(self.src.params),
                     imports=tuple(i.name for i in self.src.imports), ops=tuple(ops), input=(one, one, one),
                     classes=one, stems=(), cells=tuple(cells), layout=Layout(cells=one, channels=one),
                     head=Head(op=OpCall(op="identity")))
        try:
            return verify(stub, primitive_table(), network=False)
        except RecursionError:
            return []
