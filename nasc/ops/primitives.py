"""The built-in primitives. Importing this module registers them all (see `nasc.ops.registry`).

    conv, factorized_reduce, linear         nasc.ops.conv
    bn                                       nasc.ops.norm
    max_pool, avg_pool, global_avg_pool      nasc.ops.pool
    relu, identity, zero, sum, concat        nasc.ops.elementwise

Torch is imported only inside `build()` (and by `nasc.ops.modules`, which `build()` imports).
"""
from __future__ import annotations

from nasc.ops import conv, elementwise, norm, pool  # noqa: F401  (import = registration)

__all__ = ["conv", "elementwise", "norm", "pool"]
