"""The torch-free IR: frozen models, expressions, ids, queries, verification, printing, serde."""
from __future__ import annotations

from nasc.ir.expr import BinOp, Expr, Lit, Neg, Ref, TupleExpr, Value, evaluate, format_expr, lit, parse_expr
from nasc.ir.model import (
    IR_VERSION, LOCAL_MODULE, AuxHead, Cell, CellInput, Choice, Edge, Head, IfStmt, Layout, Model,
    Node, OpCall, OpDef, OpParam, Param, Stmt,
)

__all__ = [
    "IR_VERSION", "LOCAL_MODULE", "AuxHead", "BinOp", "Cell", "CellInput", "Choice", "Edge", "Expr",
    "Head", "IfStmt", "Layout", "Lit", "Model", "Neg", "Node", "OpCall", "OpDef", "OpParam", "Param",
    "Ref", "Stmt", "TupleExpr", "Value", "evaluate", "format_expr", "lit", "parse_expr",
]
