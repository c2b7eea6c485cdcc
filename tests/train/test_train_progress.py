"""The CLI's rendering of progress events: plain lines for pipes, rich bars for terminals."""
from __future__ import annotations

import io

from nasc.cli.progress import ProgressRenderer
from nasc.train.events import (CheckpointSaved, EpochEnded, EpochStarted, Event, FitEnded, FitStarted,
                               Message, StepEnded)

EVENTS: list[Event] = [
    Message("data: builtin"),
    FitStarted("train", 2, 4),
    EpochStarted("train", 0, 2, 4, 0.025),
    StepEnded("train", 0, 2, 4, 2, 2.30251, 0.025),
    CheckpointSaved("train", "c.pt", 0, 2, 2),
    StepEnded("train", 0, 4, 4, 4, 2.1, 0.025),
    EpochEnded("train", 0, 2, {"epoch": 0, "lr": 0.025, "train_loss": 2.2, "test_top1": 0.125, "time": 1.25}),
    FitEnded("train", {"test_top1": 0.5}),
    Message("disk almost full", level="warning"),
]


def test_plain_lines() -> None:
    out = io.StringIO()
    sink = ProgressRenderer(out, rich=False)
    for e in EVENTS:
        sink(e)
    sink.close()
    assert out.getvalue().splitlines() == [
        "data: builtin",
        "[train] starting: 2 epochs of 4 steps",
        "[train] epoch 1/2 lr=0.025",
        "[train] epoch 1/2 step 2/4 loss=2.3025 lr=0.025",
        "[train] checkpoint at epoch 1 step 2 (step 2)",
        "[train] epoch 1/2 step 4/4 loss=2.1000 lr=0.025",
        "[train] epoch 1/2 done: lr=0.025 train_loss=2.2000 test_top1=12.50% time=1.2s",
        "[train] finished: test_top1=50.00%",
        "warning: disk almost full",
    ]


def test_rich_mode_renders_bars_and_summary_lines() -> None:
    out = io.StringIO()
    sink = ProgressRenderer(out, rich=True)
    for e in EVENTS:
        sink(e)
    sink.close()
    text = out.getvalue()
    assert "[train] epoch 1/2 done: lr=0.025" in text and "[train] finished: test_top1=50.00%" in text
    assert "checkpoint" not in text  # too chatty for the terminal; it is in log.txt
    assert ProgressRenderer(io.StringIO()).rich is False  # a StringIO is not a terminal
