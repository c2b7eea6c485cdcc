"""Progress events: how the training library reports what it is doing (it never prints).

Usage:
    from nasc.train.events import EpochEnded, Event
    def sink(event: Event) -> None:          # an `EventSink`: the CLI renders, a run dir logs
        if isinstance(event, EpochEnded): ...
    Trainer(..., events=sink)

`fanout(a, b)` sends every event to several sinks. Events are only emitted on the main process.
`loop` is the checkpoint key of the loop that emitted the event (`train`, `search/...`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Base of all progress events."""


@dataclass(frozen=True)
class FitStarted(Event):
    """A training loop starts (or resumes at `start_epoch`/`start_step`)."""

    loop: str
    epochs: int
    steps_per_epoch: int
    start_epoch: int = 0
    start_step: int = 0
    resumed: bool = False


@dataclass(frozen=True)
class EpochStarted(Event):
    """Epoch `epoch` (0-based) of `epochs` starts; `lr` is its (first) learning rate."""

    loop: str
    epoch: int
    epochs: int
    steps: int
    lr: float


@dataclass(frozen=True)
class StepEnded(Event):
    """A training step ended (emitted every `log_every_steps`, and at the end of each epoch)."""

    loop: str
    epoch: int
    step: int  # steps done in this epoch
    steps: int
    global_step: int
    loss: float
    lr: float


@dataclass(frozen=True)
class EpochEnded(Event):
    """Epoch `epoch` ended; `metrics` holds its row of `metrics.jsonl`."""

    loop: str
    epoch: int
    epochs: int
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointSaved(Event):
    """A checkpoint was written after `global_step` steps."""

    loop: str
    path: str
    epoch: int
    step: int
    global_step: int


@dataclass(frozen=True)
class FitEnded(Event):
    """A training loop finished; `metrics` are the last epoch's."""

    loop: str
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Message(Event):
    """A free-form note (`level`: info | warning)."""

    text: str
    level: str = "info"


EventSink = Callable[[Event], None]


def fanout(*sinks: EventSink | None) -> EventSink:
    """One sink that forwards every event to each of `sinks` (None entries are skipped)."""
    active = [s for s in sinks if s is not None]

    def emit(event: Event) -> None:
        for sink in active:
            sink(event)

    return emit


def null_sink(event: Event) -> None:
    """Discard events."""
