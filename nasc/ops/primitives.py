"""The built-in primitives, in one table (`nasc.ops.registry` registers them on first use).

    conv, factorized_reduce, linear         nasc.ops.conv
    bn                                       nasc.ops.norm
    max_pool, avg_pool, global_avg_pool      nasc.ops.pool
    relu, identity, zero, sum, concat        nasc.ops.elementwise
    stop_gradient, stop_forward              nasc.ops.gradient (Petridish's growth step)

Torch is imported only inside `build()` (and by `nasc.ops.modules`, which `build()` imports).
Plugins add primitives through the `nasc.ops` entry point group (see `nasc.plugins`).
"""
from __future__ import annotations

from nasc.ops import conv, elementwise, gradient, norm, pool
from nasc.ops.registry import Primitive

BUILTIN_PRIMITIVES: tuple[type[Primitive], ...] = (
    conv.Conv, conv.FactorizedReduce, conv.Linear,
    norm.BatchNorm,
    pool.MaxPool, pool.AvgPool, pool.GlobalAvgPool,
    elementwise.ReLU, elementwise.Identity, elementwise.Zero, elementwise.Sum, elementwise.Concat,
    gradient.StopGradient, gradient.StopForward,
)
