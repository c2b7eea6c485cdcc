"""The built-in passes, in one table (`nasc.passes.registry` registers them on first use)."""
from __future__ import annotations

from nasc.passes.affine_bn import AffineBN
from nasc.passes.aux_towers import AuxTowers
from nasc.passes.drop_path import DropPath
from nasc.passes.finalize import Finalize
from nasc.passes.registry import CompilerPass
from nasc.passes.scale_up import ScaleUp
from nasc.passes.set_nodes import SetNodes

BUILTIN_PASSES: tuple[type[CompilerPass], ...] = (AuxTowers, DropPath, AffineBN, Finalize, ScaleUp,
                                                       SetNodes)
