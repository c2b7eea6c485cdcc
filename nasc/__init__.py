"""nasc: a compiler-style toolchain for neural architecture search.

The package root stays torch-free so that `nasc check`, `fmt`, `stats` and `viz` start fast; torch-backed
entry points (`load`, `compile_model`) import it lazily.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def load(path: str, **kwargs: Any) -> Any:
    """Rebuild the `nn.Module` stored in a `nasc compile` output file (see `nasc.lower.artifact`)."""
    from nasc.lower.artifact import load_module

    return load_module(path, **kwargs)
