"""nasc: a compiler-style toolchain for neural architecture search.

The public Python API is `nasc.api` (load, check, format, stats, compile, train, search, export,
draw, plugins). The package root stays torch-free so that `nasc check`, `fmt`, `stats` and `viz`
start fast; its two shortcuts import the API (and torch) only when called:

    net = nasc.load("model.pt")                  # nasc.api.load_module
    result = nasc.compile_model("final.nas")     # nasc.api.compile
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "compile_model", "load"]


def load(path: str, **kwargs: Any) -> Any:
    """Rebuild the `nn.Module` stored in a `nasc compile` output file (`nasc.api.load_module`)."""
    from nasc.api import load_module

    return load_module(path, **kwargs)


def compile_model(source: Any, **kwargs: Any) -> Any:
    """Compile a `.nas`/`.yaml` source (or a `Model`) through the passes to a module; returns a
    `nasc.compiler.CompileResult` (model, network, module, pass reports); see `nasc.api.compile`."""
    from nasc.api import compile as _compile

    return _compile(source, **kwargs)
