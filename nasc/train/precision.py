"""Mixed precision: which autocast dtype to use and whether a gradient scaler is needed.

Usage:
    from nasc.train.precision import Precision
    prec = Precision.create(enabled=True, dtype="auto", device=device)
    with prec.autocast():
        loss = model(x) ...
    prec.scaler.scale(loss).backward()       # a disabled GradScaler is a pass-through

`auto` is bf16 on the CPU and on GPUs that support it, else fp16 (which gets a `GradScaler`, since
fp16 gradients underflow). fp16 autocast on the CPU is refused.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from nasc.errors import ConfigError


@dataclass
class Precision:
    """The autocast setting of a run and its (possibly disabled) gradient scaler."""

    device_type: str
    dtype: torch.dtype | None  # None: full precision
    scaler: torch.amp.GradScaler

    @classmethod
    def create(cls, *, enabled: bool, dtype: str, device: torch.device) -> Precision:
        """Resolve `trainer.amp` / `trainer.amp_dtype` for `device`."""
        kind = device.type
        if not enabled:
            return cls(kind, None, torch.amp.GradScaler(kind, enabled=False))
        if dtype == "auto":
            if kind == "cuda":
                dtype = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            else:
                dtype = "bf16"
        if dtype == "fp16" and kind != "cuda":
            raise ConfigError("fp16 autocast needs a CUDA device", key="trainer.amp_dtype",
                              hint="use bf16 (or auto) on the CPU")
        torch_dtype = torch.float16 if dtype == "fp16" else torch.bfloat16
        scaler = torch.amp.GradScaler(kind, enabled=(torch_dtype == torch.float16))
        return cls(kind, torch_dtype, scaler)

    @property
    def name(self) -> str:
        """fp32, bf16 or fp16."""
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Autocast to the chosen dtype (nothing in full precision)."""
        if self.dtype is None:
            yield
        else:
            with torch.autocast(device_type=self.device_type, dtype=self.dtype):
                yield
