"""Run directories: where a run's config, logs, metrics, TensorBoard scalars and checkpoints live.

Usage:
    from nasc.train.rundir import RunDir
    run = RunDir.create("train", base="runs")          # runs/train-20240101-120000/
    run = RunDir.create("train", out="my_run")          # exactly my_run/ (must be new or empty)
    run.write_config(cfg)                                # config.yaml (the resolved config)
    run.info("started")                                  # log.txt, one timestamped line
    run.log.add("device", "cpu")                         # log.jsonl (see nasc.train.runlog)
    run.append_metrics({"epoch": 0, "test_top1": 0.5})   # metrics.jsonl
    run.scalars({"train/loss": 1.2}, step=10)            # tb/ (skipped without tensorboard)
    run.checkpoint_path                                  # checkpoints/last.pt
    trainer = Trainer(..., events=fanout(run.event_sink, cli_sink))
    run = RunDir.open("runs/train-...")                  # --resume

Layout: `config.yaml`, `log.txt`, `log.jsonl`, `metrics.jsonl`, `tb/`, `checkpoints/last.pt`,
plus whatever the caller adds (`model.pt`, `final.nas`, ...). Only the main process of a DDP run
writes: `RunDir.create(..., enabled=False)` on other ranks gives an object whose writes do nothing.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from nasc.atomic import atomic_write_text
from nasc.errors import CheckpointError, ConfigError
from nasc.train.events import (CheckpointSaved, EpochEnded, EpochStarted, Event, FitEnded,
                               FitStarted, Message, StepEnded)
from nasc.train.runlog import StructuredLog, to_plain

CONFIG = "config.yaml"


def format_metrics(metrics: dict[str, Any]) -> str:
    """`key=value` pairs for humans: accuracies as percentages, losses with 4 decimals."""
    parts = []
    for key, value in metrics.items():
        if key in ("epoch", "loop"):
            continue
        if isinstance(value, float):
            if key == "time":
                parts.append(f"time={value:.1f}s")
            elif "top" in key or "acc" in key:
                parts.append(f"{key}={100 * value:.2f}%")
            elif key == "lr":
                parts.append(f"{key}={value:.3g}")
            else:
                parts.append(f"{key}={value:.4f}")
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts)


def describe_event(event: Event) -> str | None:
    """One human line for `event` (None for events too frequent to log)."""
    if isinstance(event, FitStarted):
        where = (f"resuming at epoch {event.start_epoch + 1}, step {event.start_step}"
                 if event.resumed else "starting")
        return (f"[{event.loop}] {where}: {event.epochs} epochs of "
                f"{event.steps_per_epoch} steps")
    if isinstance(event, EpochStarted):
        return f"[{event.loop}] epoch {event.epoch + 1}/{event.epochs} lr={event.lr:.3g}"
    if isinstance(event, EpochEnded):
        return (f"[{event.loop}] epoch {event.epoch + 1}/{event.epochs} done: "
                f"{format_metrics(event.metrics)}")
    if isinstance(event, CheckpointSaved):
        if event.step == 0:  # saved at the end of epoch `event.epoch` (1-based)
            return f"[{event.loop}] checkpoint after epoch {event.epoch} (step {event.global_step})"
        return (f"[{event.loop}] checkpoint at epoch {event.epoch + 1} step {event.step} "
                f"(step {event.global_step})")
    if isinstance(event, FitEnded):
        return f"[{event.loop}] finished: {format_metrics(event.metrics)}"
    if isinstance(event, Message):
        return f"{event.level}: {event.text}" if event.level != "info" else event.text
    if isinstance(event, StepEnded):
        return None
    return None


class RunDir:
    """One run's output folder. Construct with `create` or `open`."""

    def __init__(self, root: Path, *, enabled: bool = True) -> None:
        self.root = root
        self.enabled = enabled
        self.log = StructuredLog(root / "log.jsonl" if enabled else None)
        self._tb: Any = None
        self._tb_failed = False

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(cls, name: str, *, base: str | Path = "runs", out: str | Path | None = None,
               enabled: bool = True) -> RunDir:
        """A new run folder `base/<name>-<YYYYmmdd-HHMMSS>` (suffixed if taken) or exactly `out`."""
        if out is not None:
            root = Path(out)
            if enabled and root.exists() and (not root.is_dir() or any(root.iterdir())):
                raise ConfigError(f"output folder `{root}` exists and is not empty",
                                  hint=f"pick a new --out, or continue it with --resume {root}")
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            root = Path(base) / f"{name}-{stamp}"
            n = 1
            while root.exists():
                root = Path(base) / f"{name}-{stamp}-{n}"
                n += 1
        if enabled:
            (root / "checkpoints").mkdir(parents=True, exist_ok=True)
        return cls(root, enabled=enabled)

    @classmethod
    def open(cls, path: str | Path, *, enabled: bool = True) -> RunDir:
        """An existing run folder (for `--resume`); `CheckpointError` if it is not one."""
        root = Path(path)
        if not (root / CONFIG).is_file():
            raise CheckpointError(f"`{root}` is not a run directory (no {CONFIG})",
                                  hint="pass the folder a previous run printed as its run dir")
        return cls(root, enabled=enabled)

    # ------------------------------------------------------------------ paths

    @property
    def config_path(self) -> Path:
        """`config.yaml`."""
        return self.root / CONFIG

    @property
    def checkpoint_path(self) -> Path:
        """`checkpoints/last.pt`: the nested-loop checkpoint."""
        return self.root / "checkpoints" / "last.pt"

    @property
    def metrics_path(self) -> Path:
        """`metrics.jsonl`: one JSON object per epoch."""
        return self.root / "metrics.jsonl"

    @property
    def text_log_path(self) -> Path:
        """`log.txt`: the human log."""
        return self.root / "log.txt"

    @property
    def tb_dir(self) -> Path:
        """`tb/`: TensorBoard event files."""
        return self.root / "tb"

    # ------------------------------------------------------------------ writing

    def write_config(self, config: Any) -> None:
        """Write the resolved config (a pydantic model or a mapping) as `config.yaml`."""
        if not self.enabled:
            return
        data = config.model_dump(mode="json") if hasattr(config, "model_dump") else to_plain(config)
        atomic_write_text(self.config_path, yaml.safe_dump(data, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        """The stored `config.yaml` as a mapping."""
        from nasc.yamlio import load_yaml

        try:
            text = self.config_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"cannot read `{self.config_path}`: {exc}") from None
        # the guarded loader: a run folder may come from elsewhere (no tags, bombs or duplicates)
        data, _ = load_yaml(text, str(self.config_path), error=CheckpointError)
        if not isinstance(data, dict):
            raise CheckpointError(f"`{self.config_path}` is not a config mapping")
        return data

    def info(self, text: str) -> None:
        """Append a timestamped line to `log.txt`."""
        if not self.enabled:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.text_log_path, "a", encoding="utf-8") as f:
            for line in text.splitlines() or [""]:
                f.write(f"{stamp} {line}\n")

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Append one row to `metrics.jsonl`."""
        if not self.enabled:
            return
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(to_plain(row)) + "\n")

    def rewrite_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Replace `metrics.jsonl` by `rows` (on resume, from the checkpoint's history)."""
        if not self.enabled:
            return
        atomic_write_text(self.metrics_path, "".join(json.dumps(to_plain(r)) + "\n" for r in rows))

    def read_metrics(self) -> list[dict[str, Any]]:
        """The rows of `metrics.jsonl` (empty when there is none)."""
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line]

    def tensorboard(self, purge_step: int | None = None) -> Any:
        """The `SummaryWriter` on `tb/` (None when disabled or tensorboard is not importable).

        `purge_step` (on resume) drops events logged after that step by the killed run.
        """
        if not self.enabled or self._tb_failed:
            return None
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except Exception:  # tensorboard missing or broken: scalars are optional
                self._tb_failed = True
                return None
            self._tb = SummaryWriter(log_dir=str(self.tb_dir), purge_step=purge_step)
        return self._tb

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Write scalars to TensorBoard if a writer was opened with `tensorboard()`."""
        if self._tb is not None:
            for key, value in values.items():
                self._tb.add_scalar(key, value, step)
            self._tb.flush()

    def event_sink(self, event: Event) -> None:
        """An `EventSink` that writes the human log."""
        line = describe_event(event)
        if line is not None:
            self.info(line)

    def close(self) -> None:
        """Flush and close the logs and the TensorBoard writer."""
        self.log.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None
