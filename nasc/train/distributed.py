"""Devices and multi-process training with torch DDP under `torchrun`.

Usage:
    from nasc.train.distributed import setup
    dist_ctx, device = setup("auto")          # reads torchrun's env (RANK, WORLD_SIZE, LOCAL_RANK)
    dist_ctx.is_main                          # only rank 0 writes logs and checkpoints
    total = dist_ctx.all_reduce_sum(tensor)   # identity in a single process
    dist_ctx.shutdown()

Launch: `torchrun --nproc_per_node 2 -m nasc train model.pt` (gloo on CPU, nccl on GPUs). Without
torchrun's environment everything is single-process and `torch.distributed` is never touched.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from nasc.errors import ConfigError, NascError

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that writes files and emits events)."""
        return self.rank == 0

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum `tensor` over all processes (in place; returned for convenience)."""
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def broadcast_(self, tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
        """Overwrite `tensor` on every process with `src`'s (in place)."""
        if self.enabled:
            dist.broadcast(tensor, src=src)
        return tensor

    def all_gather_object(self, obj: Any) -> list[Any]:
        """Every process's `obj`, in rank order (`[obj]` in a single process)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def agree(self, fn: Callable[[], T]) -> T:
        """Run `fn` on every process and fail on all of them if it failed on any.

        A step that can fail on one rank only (rank 0 creating the run folder, one node missing a
        data file) would otherwise leave the others blocked forever in their next collective. Here
        every rank reports success or its error; a failed rank re-raises its own exception, and a
        rank whose step succeeded raises a `NascError` naming the failed rank and its message.
        """
        if not self.enabled:
            return fn()
        error: Exception | None = None
        result: Any = None
        try:
            result = fn()
        except Exception as exc:  # reported to the other ranks, then re-raised unchanged
            error = exc
        report = None if error is None else (
            str(error) if isinstance(error, NascError) else f"{type(error).__name__}: {error}")
        failures = [(r, msg) for r, msg in enumerate(self.all_gather_object(report))
                    if msg is not None]
        if error is not None:
            raise error
        if failures:
            rank, msg = failures[0]
            raise NascError(f"rank {rank} failed: {msg}",
                            hint="every process stops; fix the cause and relaunch torchrun")
        return result

    def barrier(self) -> None:
        """Wait for every process."""
        if self.enabled:
            dist.barrier()

    def shutdown(self) -> None:
        """Tear down the process group (if this module created one)."""
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` -> `cuda:<local_rank>` when CUDA is available, else `cpu`; others as given."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device `{name}`", key="run.device",
                          hint="use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but is not available", key="run.device",
                          hint="use `--set run.device=cpu`")
    return device


def setup(device_name: str = "auto") -> tuple[DistContext, torch.device]:
    """Join the torchrun job if there is one and pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(), resolve_device(device_name)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, backend=backend), device
