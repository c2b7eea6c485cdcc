"""nasc: a compiler-style toolchain for neural architecture search.

The package root stays torch-free so that `nasc check`, `fmt`, `stats` and `viz` start fast; torch-backed
entry points (`load`, `compile_model`) import it lazily.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "compile_model", "load"]


def load(path: str, **kwargs: Any) -> Any:
    """Rebuild the `nn.Module` stored in a `nasc compile` output file (see `nasc.lower.artifact`)."""
    from nasc.lower.artifact import load_module

    return load_module(path, **kwargs)


def compile_model(source: Any, **kwargs: Any) -> Any:
    """Compile a `.nas`/`.yaml` source (or a `Model`) through the passes to a module; returns a
    `nasc.lower.compile.CompileResult` (model, network, module, pass reports)."""
    from nasc.lower.compile import compile_model as _compile

    return _compile(source, **kwargs)
