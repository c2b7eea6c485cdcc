"""Primitive op specs (params, arity, shape rule, cost, build). Composite ops live in stdlib_ops/."""
from __future__ import annotations

from nasc.ops.registry import (Primitive, PrimParams, Shape, get_primitive, is_primitive, primitive_names,
                               primitive_table, register_primitive)

__all__ = ["PrimParams", "Primitive", "Shape", "get_primitive", "is_primitive", "primitive_names",
           "primitive_table", "register_primitive"]
