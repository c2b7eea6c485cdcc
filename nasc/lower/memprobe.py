"""Measured memory of a training step on the CPU, to hold the planner (`nasc.analysis.memory`)
against reality (tests and `benchmarks/memory_planner.py`).

Two measurements, both of float tensors as torch allocates them:

- `saved_tensor_bytes(fn)`: the bytes autograd saves for the backward while `fn` runs, through
  `torch.autograd.graph.saved_tensors_hooks`: each saved tensor's storage counted once (views of
  one storage share it), parameters and buffers excluded (they are the weights, counted apart).
- `step_memory(model, x, y, optimizer)`: one training step (zero_grad(set_to_none), forward,
  cross-entropy loss, backward, optimizer step) after one warm-up step, under `torch.profiler`
  with `profile_memory=True`: the profiler's running total of CPU allocations gives the peak
  above what was alive at the start; the start is the weights, buffers, optimizer state and the
  batch, summed from the tensors themselves. `peak = baseline + max(running total)`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn


def _storages(tensors: Iterable[Tensor]) -> dict[int, int]:
    out: dict[int, int] = {}
    for t in tensors:
        s = t.untyped_storage()
        out[s.data_ptr()] = s.nbytes()
    return out


def saved_tensor_bytes(fn: Callable[[], Any], exclude: Iterable[Tensor] = ()) -> tuple[Any, int]:
    """Run `fn()` and return its result and the distinct storage bytes autograd saved meanwhile
    (excluding the storages of `exclude`, e.g. a module's parameters and buffers)."""
    skip = set(_storages(exclude))
    seen: dict[int, int] = {}
    keep: list[Tensor] = []  # hold the saved tensors so a freed storage's address is not reused

    def pack(t: Tensor) -> Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in skip and s.data_ptr() != 0:
            seen[s.data_ptr()] = s.nbytes()
            keep.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(seen.values())


@dataclass(frozen=True)
class StepMemory:
    """One measured training step: `baseline` bytes alive at its start, `peak` the most at once."""

    baseline: int
    peak: int
    saved: int  # saved-tensor bytes of the step's forward (hooks)


def _loss(out: Any, y: Tensor, aux_weight: float) -> Tensor:
    import torch.nn.functional as F

    if isinstance(out, tuple):
        logits, aux = out
        return F.cross_entropy(logits, y) + aux_weight * F.cross_entropy(aux, y)
    return F.cross_entropy(out, y)


def step_memory(model: nn.Module, x: Tensor, y: Tensor, optimizer: torch.optim.Optimizer,
                aux_weight: float = 0.4) -> StepMemory:
    """Measure one training step of `model` on `(x, y)` (see the module docstring)."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    model.train()
    excl = [*model.parameters(), *model.buffers()]

    def step(measure_saved: bool) -> int:
        optimizer.zero_grad(set_to_none=True)
        if measure_saved:
            out, saved = saved_tensor_bytes(lambda: model(x), exclude=excl)
        else:
            out, saved = model(x), 0
        _loss(out, y, aux_weight).backward()
        optimizer.step()
        return saved

    saved = step(True)  # warm-up: optimizer state allocated; the saved bytes of a forward
    optimizer.zero_grad(set_to_none=True)
    state = [v for st in optimizer.state.values() for v in st.values() if isinstance(v, Tensor)]
    baseline = sum(_storages([*excl, *state, x, y]).values())
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(False)
    events: list[tuple[int, int, int]] = []  # (time, alloc size, running total)
    stack = list(prof.profiler.kineto_results.experimental_event_tree())  # type: ignore[union-attr]
    while stack:
        ev = stack.pop()
        if ev.tag == _EventType.Allocation and ev.extra_fields.device.type == "cpu":
            f = ev.extra_fields
            events.append((ev.start_time_ns, f.alloc_size, f.total_allocated))
        stack.extend(ev.children)
    if not events:
        return StepMemory(baseline, baseline, saved)
    # the running total is the profiler's process-wide counter, which also carries what earlier
    # profiled runs allocated and freed unprofiled: measure from its value before the first event
    first = min(events)
    start = first[2] - first[1]
    return StepMemory(baseline, baseline + max(0, max(e[2] for e in events) - start), saved)
