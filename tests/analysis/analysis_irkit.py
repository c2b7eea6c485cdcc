"""Hand-built IR for the analysis tests: the std op library and the DARTS models, written with
the IR constructors (so these tests do not depend on the parser). Strings are expressions."""
from __future__ import annotations

from typing import Any

from nasc.ir.expr import parse_expr
from nasc.ir.model import (AuxHead, Cell, CellInput, Choice, Edge, Head, IfStmt, Layout, Model, Node, OpCall,
                           OpDef, OpParam, Param)
from nasc.source import Span


def c(op: str, span: Span | None = None, **args: Any) -> OpCall:
    """An op call; string args are expressions (`"C_in"`, `"k // 2"`)."""
    return OpCall(op=op, args=args, span=span)


def if_(cond: str, then: list[Any], orelse: list[Any]) -> IfStmt:
    return IfStmt(cond=parse_expr(cond), then=tuple(then), orelse=tuple(orelse))


def op(name: str, body: list[Any], params: dict[str, Any] | None = None, module: str = "std") -> OpDef:
    ps = tuple(OpParam(name=k, default=v) for k, v in (params or {}).items())
    return OpDef(name=name, params=ps, body=tuple(body), module=module)


def _sep_conv() -> list[Any]:
    return [c("relu"), c("conv", out="C_in", k="k", stride="stride", pad="pad", groups="C_in"),
            c("conv", out="C_in", k=1), c("bn"), c("relu"),
            c("conv", out="C_in", k="k", pad="pad", groups="C_in"), c("conv", k=1), c("bn")]


STD: tuple[OpDef, ...] = (
    op("none", [c("zero", stride="stride")]),
    op("max_pool_3x3", [c("max_pool", k=3, stride="stride", pad=1)]),
    op("avg_pool_3x3", [c("avg_pool", k=3, stride="stride", pad=1)]),
    op("skip_connect", [if_("stride == 1", [c("identity")], [c("factorized_reduce")])]),
    op("sep_conv", _sep_conv(), {"k": None, "pad": None}),
    op("sep_conv_3x3", [c("sep_conv", k=3, pad=1)]),
    op("sep_conv_5x5", [c("sep_conv", k=5, pad=2)]),
    op("dil_conv", [c("relu"), c("conv", out="C_in", k="k", stride="stride", pad="pad", dilation="dilation",
                                  groups="C_in"), c("conv", k=1), c("bn")], {"k": None, "pad": None, "dilation": 2}),
    op("dil_conv_3x3", [c("dil_conv", k=3, pad=2)]),
    op("dil_conv_5x5", [c("dil_conv", k=5, pad=4)]),
    op("conv_7x1_1x7", [c("relu"), c("conv", k=(1, 7), stride=(1, "stride"), pad=(0, 3)),
                        c("conv", k=(7, 1), stride=("stride", 1), pad=(3, 0)), c("bn")]),
    op("relu_conv_bn", [c("relu"), c("conv", k="k", stride="stride", pad="pad"), c("bn")], {"k": 1, "pad": 0}),
    op("conv_bn", [c("conv", k="k", stride="stride", pad="pad"), c("bn")], {"k": 3, "pad": "k // 2"}),
    op("preprocess", [if_("stride == 1", [c("relu_conv_bn", k=1)], [c("factorized_reduce")])]),
    op("cifar_stem", [c("conv", k=3, pad=1), c("bn")]),
    op("imagenet_stem0", [c("conv", out="C_out // 2", k=3, stride=2, pad=1), c("bn"), c("relu"),
                          c("conv", k=3, stride=2, pad=1), c("bn")]),
    op("imagenet_stem1", [c("relu"), c("conv", k=3, stride=2, pad=1), c("bn")]),
    op("classifier", [c("global_avg_pool"), c("linear")]),
    op("cifar_aux", [c("relu"), c("avg_pool", k=5, stride=3), c("conv", out=128, k=1), c("bn"), c("relu"),
                     c("conv", out=768, k=2), c("bn"), c("relu"), c("linear")]),
    op("imagenet_aux", [c("relu"), c("avg_pool", k=5, stride=2), c("conv", out=128, k=1), c("bn"), c("relu"),
                        c("conv", out=768, k=2), c("relu"), c("linear")]),
)

DARTS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
         "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


def node(name: str, *edges: tuple[str, Any], combine: str = "sum", keep: int | None = None) -> Node:
    """`node("n0", ("sep_conv_3x3", "s0"), ...)`; an edge op may be an OpCall or a Choice."""
    es = tuple(Edge(input=i, op=(c(o) if isinstance(o, str) else o)) for o, i in edges)
    return Node(name=name, edges=es, combine=combine, keep=keep)  # type: ignore[arg-type]


def cell(name: str, nodes: list[Node], output: tuple[str, ...] | None = None,
         inputs: tuple[str, ...] = ("s0", "s1"), pre: str | None = "preprocess") -> Cell:
    ins = tuple(CellInput(name=i, op=c(pre) if pre else None) for i in inputs)
    return Cell(name=name, inputs=ins, nodes=tuple(nodes), output=output or tuple(n.name for n in nodes))


V2_NORMAL = cell("normal", [
    node("n0", ("sep_conv_3x3", "s0"), ("sep_conv_3x3", "s1")),
    node("n1", ("sep_conv_3x3", "s0"), ("sep_conv_3x3", "s1")),
    node("n2", ("sep_conv_3x3", "s1"), ("skip_connect", "s0")),
    node("n3", ("skip_connect", "s0"), ("dil_conv_3x3", "n0")),
])
V2_REDUCE = cell("reduce", [
    node("n0", ("max_pool_3x3", "s0"), ("max_pool_3x3", "s1")),
    node("n1", ("skip_connect", "n0"), ("max_pool_3x3", "s1")),
    node("n2", ("max_pool_3x3", "s0"), ("skip_connect", "n0")),
    node("n3", ("skip_connect", "n0"), ("max_pool_3x3", "s1")),
])


def model(name: str = "m", *, cells: tuple[Cell, ...] = (V2_NORMAL, V2_REDUCE), params: dict[str, Any] | None = None,
          stems: tuple[OpCall, ...] | None = None, layout: dict[str, Any] | None = None, head: OpCall | None = None,
          aux: AuxHead | None = None, affine: bool = True, input: tuple[Any, Any, Any] = (3, 32, 32),
          classes: Any = "classes", ops: tuple[OpDef, ...] = ()) -> Model:
    """A model over STD (plus `ops`), CIFAR defaults: C=36, layers=20, classes=10."""
    ps = {"C": 36, "layers": 20, "classes": 10, **(params or {})}
    lay = {"cells": "layers", "channels": "C", **(layout or {})}
    return Model(name=name, imports=("std",), params=tuple(Param(name=k, default=v) for k, v in ps.items()),
                 ops=STD + ops, input=input, classes=classes,
                 stems=stems if stems is not None else (c("cifar_stem", C_out="C * 3"),),
                 cells=cells, layout=Layout(**lay), head=Head(op=head or c("classifier")), aux=aux, affine=affine)


def darts_v2_cifar(**kw: Any) -> Model:
    return model("darts_v2_cifar", aux=AuxHead(op=c("cifar_aux"), after="2 * layers // 3", weight=0.4), **kw)


def darts_v2_imagenet() -> Model:
    return model("darts_v2_imagenet", params={"C": 48, "layers": 14, "classes": 1000}, input=(3, 224, 224),
                 stems=(c("imagenet_stem0", C_out="C"), c("imagenet_stem1", C_out="C")),
                 aux=AuxHead(op=c("imagenet_aux"), after="2 * layers // 3", weight=0.4))


def darts_space(params: dict[str, Any] | None = None, **kw: Any) -> Model:
    ch = Choice(candidates=tuple(c(n) for n in DARTS), name="darts")

    def search_cell(name: str) -> Cell:
        states = ["s0", "s1"]
        nodes = []
        for i in range(4):
            nodes.append(node(f"n{i}", *[(ch, s) for s in states], keep=2))
            states.append(f"n{i}")
        return cell(name, nodes)

    return model("darts_space", cells=(search_cell("normal"), search_cell("reduce")),
                 params={"C": 16, "layers": 8, "classes": 10, **(params or {})}, affine=False, **kw)
