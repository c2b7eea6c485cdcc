"""Importing this module registers the built-in passes (see `nasc.passes.registry`)."""
from __future__ import annotations

from nasc.passes import affine_bn, aux_towers, drop_path, finalize, scale_up  # noqa: F401  (import = registration)

__all__ = ["affine_bn", "aux_towers", "drop_path", "finalize", "scale_up"]
