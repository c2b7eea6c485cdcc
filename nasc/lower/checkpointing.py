"""Activation checkpointing per cell (`NascNet.checkpoint_cells`): the memory-lean mode.

A checkpointed cell keeps only its inputs through the forward; its activations are recomputed in
its backward, one cell at a time (`torch.utils.checkpoint`, non-reentrant, so it works with
`torch.autograd.grad` and with inputs that do not need gradients). Outputs and gradients are
those of the plain forward: the RNG state (drop path) is replayed, and the recomputation leaves the
batch-norm running statistics as the first forward left them (else they would be updated twice).
`nasc.analysis.memory` predicts the saving (`checkpointing=True`).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


@contextmanager
def _frozen_stats(module: nn.Module) -> Iterator[None]:
    """Run the block and put every batch-norm buffer of `module` back as it was."""
    saved = [(b, b.clone()) for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             for b in m.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, v in saved:
                b.copy_(v)


def _contexts(module: nn.Module) -> tuple[Any, Any]:
    return nullcontext(), _frozen_stats(module)


def checkpointed(cell: nn.Module, *args: Any) -> Tensor:
    """`cell(*args)` under activation checkpointing."""
    return checkpoint(cell, *args, use_reentrant=False, context_fn=partial(_contexts, cell))
