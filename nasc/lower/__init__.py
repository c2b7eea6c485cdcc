"""Lowering: the elaborated IR to a torch `nn.Module`, by interpretation (no codegen).

    build_module(network) -> NascNet          nasc.lower.net
    save_artifact / load_module               nasc.lower.artifact (the `nasc compile` file)
"""
from __future__ import annotations

from nasc.lower.net import NascNet, build_module

__all__ = ["NascNet", "build_module"]
