"""Rendering of training progress events (`nasc.train.events`) for the terminal.

    sink = ProgressRenderer()            # rich progress bars when stderr is a terminal, else lines
    train_model(model, cfg, events=sink)
    sink.close()

The library only emits events; this is the one place that turns them into output. Plain mode
writes one line per event to stderr (`[train] epoch 1/3 step 10/156 loss=2.1034 lr=0.025`), which
suits logs, CI and pipes.
"""
from __future__ import annotations

import sys
from typing import Any, TextIO

from nasc.api import describe_event, events


def step_line(event: events.StepEnded, epochs: int | None = None) -> str:
    """The plain-text line of a step event."""
    of = f"/{epochs}" if epochs else ""
    return (f"[{event.loop}] epoch {event.epoch + 1}{of} step {event.step}/{event.steps} "
            f"loss={event.loss:.4f} lr={event.lr:.3g}")


class ProgressRenderer:
    """An `EventSink` for the CLI (see the module docstring)."""

    def __init__(self, stream: TextIO | None = None, *, rich: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.rich = self.stream.isatty() if rich is None else rich
        self._epochs: dict[str, int] = {}
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def _bar(self) -> Any:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeRemainingColumn)

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
                console=Console(file=self.stream), transient=False)
            self._progress.start()
        return self._progress

    def _print(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def __call__(self, event: events.Event) -> None:
        """Render one event."""
        if isinstance(event, events.FitStarted):
            self._epochs[event.loop] = event.epochs
        if not self.rich:
            if isinstance(event, events.StepEnded):
                self._print(step_line(event, self._epochs.get(event.loop)))
                return
            line = describe_event(event)
            if line is not None:
                self._print(line)
            return
        if isinstance(event, events.EpochStarted):
            bar = self._bar()
            desc = f"[{event.loop}] epoch {event.epoch + 1}/{event.epochs}"
            task = self._tasks.get(event.loop)
            if task is None:
                self._tasks[event.loop] = bar.add_task(desc, total=event.steps, status="")
            else:
                bar.reset(task, total=event.steps, description=desc, status="")
        elif isinstance(event, events.StepEnded):
            task = self._tasks.get(event.loop)
            if task is not None:
                self._bar().update(task, completed=event.step,
                                   status=f"loss {event.loss:.4f} lr {event.lr:.3g}")
        elif isinstance(event, events.CheckpointSaved):
            return
        else:
            line = describe_event(event)
            if line is not None:
                self._print(line)
            if isinstance(event, events.FitEnded):
                task = self._tasks.pop(event.loop, None)
                if task is not None:
                    self._bar().remove_task(task)

    def close(self) -> None:
        """Stop the progress display."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
