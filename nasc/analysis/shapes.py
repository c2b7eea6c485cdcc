"""Shape inference of one op call: expanding a (possibly composite) call into primitives.

A call `op(args)` is evaluated in its caller's environment and applied to one input shape in a
`CallContext` (`C_in, H_in, W_in` from the input, `C_out`, `stride`, `affine` from the caller;
explicit args named `C_out`, `stride` or `affine` override the context). A primitive's params
are its explicit args, else the context value its `context_defaults` names, else its own default.
A composite's params are evaluated in order (defaults may use earlier params and context names),
its `if` statements resolved, and its body applied statement by statement, each nested call seeing
the current tensor as its `C_in/H_in/W_in` and the composite's `C_out/stride/affine`.

Errors raised here carry the span of the offending call (or none) plus, as attributes, the
expansion `path` and input shape where they happened; `nasc.analysis.elaborate` turns them into
messages that name the edge.
"""
from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import pydantic

from nasc.analysis.network import PrimCall
from nasc.errors import NameResolutionError, NascError, ValidationError, did_you_mean
from nasc.ir.expr import Expr, Value, evaluate, format_expr
from nasc.ir.model import IfStmt, Model, OpCall, OpDef, Stmt
from nasc.ir.names import CONTEXT_NAMES
from nasc.limits import MAX_DIM
from nasc.ops.registry import Shape, get_primitive, is_primitive, primitive_names
from nasc.source import Span

SETTABLE_CONTEXT = ("C_out", "stride", "affine")


def _brief(s: Shape) -> str:
    """A shape whose sizes may be astronomically large, briefly (`(3, ~10^40, 32)`)."""
    return "(" + ", ".join(str(d) if d < 10**12 else f"~10^{len(str(d)) - 1}" for d in s) + ")"


def fmt_shape(s: Shape) -> str:
    """`(C, H, W)` as text, e.g. `(36, 32, 32)`."""
    return f"({s[0]}, {s[1]}, {s[2]})"


@dataclass(frozen=True)
class CallContext:
    """What an op call is applied to: its input shape and the caller's `C_out`, `stride`, `affine`.
    `c_out` is None where no width is implied (stems without an explicit `C_out`)."""

    shape: Shape
    c_out: int | None
    stride: int
    affine: bool

    def env(self) -> dict[str, Value]:
        """The context names as an expression environment."""
        env: dict[str, Value] = {"C_in": self.shape[0], "H_in": self.shape[1], "W_in": self.shape[2],
                                 "stride": self.stride, "affine": self.affine}
        if self.c_out is not None:
            env["C_out"] = self.c_out
        return env


def tag(err: NascError, path: str, shape: Shape) -> NascError:
    """Remember where in an expansion `err` happened (the innermost place wins)."""
    if not hasattr(err, "nasc_path"):
        err.nasc_path = path  # type: ignore[attr-defined]
        err.nasc_in_shape = shape  # type: ignore[attr-defined]
    return err


class Expander:
    """Expands op calls of one model into primitive calls. Holds the model params and op table."""

    def __init__(self, model: Model, params: Mapping[str, Value]) -> None:
        self.model = model
        self.params = dict(params)
        self.defs: dict[str, OpDef] = {d.name: d for d in model.ops}  # last definition wins
        self._memo: dict[tuple[object, ...], tuple[tuple[PrimCall, ...], Shape]] = {}

    # -- public ----------------------------------------------------------------------------
    def expand(self, call: OpCall, ctx: CallContext) -> tuple[tuple[PrimCall, ...], Shape]:
        """The primitives `call` applies to `ctx.shape`, and the output shape. Args are evaluated
        in the model params plus `ctx`'s context names (the environment of a top-level call)."""
        # layered, not copied: a copy of every model param per call made large sources quadratic
        env: Mapping[str, Value] = ChainMap(ctx.env(), self.params)
        key = None
        if not is_primitive(call.op) and call.op in self.defs:
            # a composite's primitives carry the spans of its definition, not of this call, so
            # equal calls (same op, same argument values) in the same context expand identically
            try:
                values = tuple(sorted((k, evaluate(v, env)) for k, v in call.args.items()))
                key = (call.op, values, ctx)
            except NascError:
                key = None  # reported with its span by the expansion below
            hit = self._memo.get(key) if key is not None else None
            if hit is not None:
                return hit
        calls: list[PrimCall] = []
        out = self._call(call, env, ctx, call.op, (), calls)
        result = (tuple(calls), out)
        if key is not None:
            self._memo[key] = result
        return result

    # -- internals -------------------------------------------------------------------------
    def _eval(self, e: Expr, env: Mapping[str, Value], span: Span | None) -> Value:
        try:
            return evaluate(e, env)
        except NascError as err:
            if err.span is None:
                err.span = span
            if isinstance(err, NameResolutionError) and "`C_out`" in err.message and "C_out" not in env:
                err.hint = "no width is implied here: stems need an explicit C_out, e.g. `cifar_stem(C_out=C * 3)`"
            raise

    def _context(self, op: str, values: dict[str, Value], ctx: CallContext, span: Span | None) -> CallContext:
        """`ctx` with the context names the call sets explicitly."""
        c_out, stride, affine = ctx.c_out, ctx.stride, ctx.affine
        if "C_out" in values:
            c_out = _check_int(op, "C_out", values["C_out"], span)
        if "stride" in values:
            stride = _check_int(op, "stride", values["stride"], span)
        if "affine" in values:
            if not isinstance(values["affine"], bool):
                raise ValidationError(f"`{op}` argument `affine` must be true or false, got {values['affine']!r}",
                                      span)
            affine = values["affine"]
        return CallContext(ctx.shape, c_out, stride, affine)

    def _call(self, call: OpCall, caller_env: Mapping[str, Value], ctx: CallContext, path: str,
              stack: tuple[str, ...], out: list[PrimCall]) -> Shape:
        try:
            values = {k: self._eval(v, caller_env, call.span) for k, v in call.args.items()}
            if is_primitive(call.op):
                return self._primitive(call, values, ctx, path, out)
            d = self.defs.get(call.op)
            if d is None:
                names = primitive_names() + sorted(self.defs)
                raise NameResolutionError(f"unknown op `{call.op}`", call.span,
                                          did_you_mean(call.op, names)
                                          or "define it with `op name { ... }` or `import std`")
            return self._composite(call, d, values, ctx, path, stack, out)
        except NascError as err:
            raise tag(err, path, ctx.shape) from None

    def _primitive(self, call: OpCall, values: dict[str, Value], ctx: CallContext, path: str,
                   out: list[PrimCall]) -> Shape:
        prim = get_primitive(call.op)
        fields = prim.Params.model_fields
        ctx_args = set(prim.context_defaults.values())
        for k in values:
            if k not in fields and k not in ctx_args:
                known = sorted(fields) + sorted(ctx_args)
                raise NameResolutionError(
                    f"primitive `{call.op}` has no parameter `{k}`", call.span,
                    did_you_mean(k, known) or (f"its parameters are: {', '.join(known)}" if known
                                               else f"`{call.op}` takes no parameters"))
        cctx = self._context(call.op, {k: v for k, v in values.items() if k in ctx_args}, ctx, call.span)
        cenv = cctx.env()
        kwargs: dict[str, Any] = {}
        for f in fields:
            if f in values:
                kwargs[f] = values[f]
            elif f in prim.context_defaults:
                src = prim.context_defaults[f]
                if src not in cenv:
                    raise ValidationError(
                        f"`{call.op}` needs `{f}`: no {src} is implied here", call.span,
                        f"pass it explicitly, e.g. `{call.op}({f}=...)`, or give the stem a C_out")
                kwargs[f] = cenv[src]
        try:
            p = prim.Params(**kwargs)
        except pydantic.ValidationError as e:
            first = e.errors()[0]
            loc = str(first["loc"][0]) if first["loc"] else "?"
            raise ValidationError(f"`{call.op}` argument `{loc}`: {first['msg'].lower()}, "
                                  f"got {kwargs.get(loc)!r}", call.span,
                                  "widths and sizes are integers: use `//` for integer division") from None
        if prim.arity not in (None, 1):
            raise ValidationError(f"primitive `{call.op}` takes {prim.arity} inputs; an op body applies "
                                  "ops to one tensor", call.span)
        shape = prim.infer_shape(p, (ctx.shape,))
        if max(shape, default=0) > MAX_DIM:  # keeps every later figure (params, MACs) printable
            raise ValidationError(f"`{call.op}` would give a tensor of shape {_brief(shape)}, a dimension "
                                  f"over the limit of {MAX_DIM:,}", call.span,
                                  "channels, classes and image sizes this large cannot be built")
        out.append(PrimCall(call.op, p, (ctx.shape,), shape, path, call.span))
        return shape

    def _composite(self, call: OpCall, d: OpDef, values: dict[str, Value], ctx: CallContext, path: str,
                   stack: tuple[str, ...], out: list[PrimCall]) -> Shape:
        if d.name in stack:
            cycle = " -> ".join((*stack[stack.index(d.name):], d.name))
            raise ValidationError(f"op `{d.name}` calls itself ({cycle})", d.span or call.span,
                                  "composite ops cannot be recursive")
        declared = [p.name for p in d.params]
        for k in values:
            if k not in declared and k not in SETTABLE_CONTEXT:
                known = declared + list(SETTABLE_CONTEXT)
                raise NameResolutionError(f"op `{d.name}` has no parameter `{k}`", call.span,
                                          did_you_mean(k, known) or f"its parameters are: {', '.join(known)}")
        cctx = self._context(d.name, {k: v for k, v in values.items() if k in SETTABLE_CONTEXT
                                      and k not in declared}, ctx, call.span)
        env: MutableMapping[str, Value] = ChainMap({}, cctx.env(), self.params)
        for p in d.params:
            if p.name in values:
                env[p.name] = values[p.name]
            elif p.default is not None:
                env[p.name] = self._eval(p.default, env, p.span or d.span)
            else:
                raise ValidationError(f"op `{d.name}` needs parameter `{p.name}`", call.span,
                                      f"write `{d.name}({p.name}=...)`")
        stmts = self._resolve(d.body, env)
        shape = ctx.shape
        for i, s in enumerate(stmts):
            seg = f"{i}:{s.op}" if len(stmts) > 1 else s.op
            sub = CallContext(shape, cctx.c_out, cctx.stride, cctx.affine)
            shape = self._call(s, env, sub, f"{path}/{seg}", (*stack, d.name), out)
        return shape

    def _resolve(self, body: tuple[Stmt, ...], env: Mapping[str, Value]) -> list[OpCall]:
        """The calls of a body with `if` statements decided."""
        calls: list[OpCall] = []
        for s in body:
            if isinstance(s, IfStmt):
                cond = self._eval(s.cond, env, s.span)
                if not isinstance(cond, bool):
                    raise ValidationError(f"`if {format_expr(s.cond)}` is {cond!r}, not true or false", s.span)
                calls.extend(self._resolve(s.then if cond else s.orelse, env))
            else:
                calls.append(s)
        return calls


def _check_int(op: str, name: str, v: Value, span: Span | None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValidationError(f"`{op}` argument `{name}` must be a positive integer, got {v!r}", span,
                              "use `//` for integer division")
    return v
