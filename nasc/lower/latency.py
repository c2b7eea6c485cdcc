"""Measured latency: the eval forward of a lowered network timed on a device.

    from nasc.lower.latency import measure_latency, network_latency
    lat = network_latency(network, batch_size=1, device="cpu", repeat=20)   # an elaborated Network
    lat.median_ms, lat.min_ms, lat.p90_ms, lat.as_dict()

The analytic cost model (`nasc.analysis.cost`) counts; this measures. Each run is one forward of a
random batch under `torch.inference_mode()` in eval mode, after `warmup` untimed runs; CUDA work is
synchronised before each clock read. The median is the figure to quote (robust to a busy machine),
the minimum is the best case, p90 shows the spread.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from nasc.analysis.network import Network
from nasc.errors import ConfigError, ValidationError
from nasc.ir.queries import is_search_space


@dataclass(frozen=True)
class Latency:
    """Forward latency figures of one configuration (milliseconds per batch)."""

    batch_size: int
    device: str
    threads: int
    warmup: int
    repeat: int
    median_ms: float
    min_ms: float
    p90_ms: float

    def as_dict(self) -> dict[str, Any]:
        """Plain fields, for JSON."""
        return asdict(self)


def measure_latency(module: nn.Module, input_shape: tuple[int, ...], *, batch_size: int = 1,
                    device: str | torch.device = "cpu", warmup: int = 3, repeat: int = 20,
                    threads: int | None = None) -> Latency:
    """Time `module`'s eval forward on a random `(batch_size, *input_shape)` batch.

    The module is moved to `device` and put in eval mode; `threads` (CPU) applies during the
    measurement only. Raises `ConfigError` for a batch size, warm-up or repeat count out of range.
    """
    if batch_size < 1:
        raise ConfigError("the batch size must be at least 1", key="--batch")
    if repeat < 1 or warmup < 0:
        raise ConfigError("repeat must be at least 1 and warm-up at least 0", key="--repeat")
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        module = module.to(dev).eval()
        g = torch.Generator().manual_seed(0)
        x = torch.randn((batch_size, *input_shape), generator=g).to(dev)
        times: list[float] = []
        with torch.inference_mode():
            for i in range(warmup + repeat):
                if cuda:
                    torch.cuda.synchronize(dev)
                t0 = time.perf_counter()
                module(x)
                if cuda:
                    torch.cuda.synchronize(dev)
                if i >= warmup:
                    times.append((time.perf_counter() - t0) * 1000.0)
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(old_threads)
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
    return Latency(batch_size=batch_size, device=str(dev), threads=used_threads, warmup=warmup,
                   repeat=repeat, median_ms=statistics.median(ordered), min_ms=ordered[0],
                   p90_ms=p90)


def network_latency(network: Network, **kwargs: Any) -> Latency:
    """Lower a discrete elaborated network and time it (`measure_latency`'s keyword arguments).

    Weights come from torch's default initialisation under a fixed seed (latency does not depend
    on their values); the caller's random state is left as it was. Raises `ValidationError` for a
    search space: a supernet's latency says nothing about the networks it contains.
    """
    from nasc.lower.net import build_module

    if is_search_space(network.model):
        raise ValidationError(
            f"`{network.model.name}` is a search space: latency is measured on a discrete network",
            network.model.span,
            hint="derive one first (nasc search darts / random), then `nasc stats final.nas --latency`")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        module = build_module(network)
    return measure_latency(module, tuple(network.input_shape), **kwargs)
