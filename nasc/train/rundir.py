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
    run.close()                                          # or `with RunDir.open(...) as run:`

Layout: `config.yaml`, `log.txt`, `log.jsonl`, `metrics.jsonl`, `tb/`, `checkpoints/last.pt`,
plus whatever the caller adds (`model.pt`, `final.nas`, ...). Only the main process of a DDP run
writes: `RunDir.create(..., enabled=False)` on other ranks gives an object whose writes do nothing.

One process at a time: `create` and `open` take the folder's lock (`.lock`, `nasc.train.runlock`)
and `close` releases it, so a second `--resume` (or an `--out` into a running run) is refused
naming the holder, and the lock of a killed process is taken over. `open` also repairs what a
SIGKILL can leave: temporary files of interrupted atomic writes are deleted, and a torn last line
of an append-only JSON-lines file (`log.jsonl`, `metrics.jsonl`) is cut off before it is
appended to again.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from nasc.atomic import atomic_write_bytes, atomic_write_text, remove_temp_files
from nasc.errors import CheckpointError, ConfigError
from nasc.train.events import (CheckpointSaved, EpochEnded, EpochStarted, Event, FitEnded,
                               FitStarted, Message, StepEnded)
from nasc.train.runlock import LOCK, RunLock, refuse_if_held
from nasc.train.runlog import StructuredLog, to_plain

CONFIG = "config.yaml"


def read_jsonl(path: Path) -> list[Any]:
    """The rows of a JSON-lines file, without a torn last line (one without its newline, or not
    JSON: what a killed writer leaves); empty when the file does not exist. A bad line before the
    last is corruption, not a kill, and raises `CheckpointError`."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CheckpointError(f"cannot read `{path}`: {exc.strerror or exc}") from None
    lines = text.split("\n")
    if lines and lines[-1] != "":  # no newline after the last line: it was cut short
        lines = lines[:-1]
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            if i >= len(lines) - 2:  # the last complete line (the list ends with "")
                break
            raise CheckpointError(f"`{path}` line {i + 1} is not JSON",
                                  hint="the run folder is damaged; start a new run") from None
    return rows


def trim_torn_tail(path: Path) -> bool:
    """Cut a torn last line off a JSON-lines file (see `read_jsonl`); whether it changed."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    keep = data
    if keep and not keep.endswith(b"\n"):
        keep = keep[:keep.rfind(b"\n") + 1]
    last = keep[:-1].rsplit(b"\n", 1)[-1] if keep else b""
    if last.strip():
        try:
            json.loads(last)
        except ValueError:
            keep = keep[:len(keep) - len(last) - 1]
    if keep == data:
        return False
    atomic_write_bytes(path, keep)
    return True


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

    def __init__(self, root: Path, *, enabled: bool = True, lock: RunLock | None = None) -> None:
        self.root = root
        self.enabled = enabled
        self.lock = lock
        try:
            self.log = StructuredLog(root / "log.jsonl" if enabled else None)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        self._tb: Any = None
        self._tb_failed = False

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(cls, name: str, *, base: str | Path = "runs", out: str | Path | None = None,
               enabled: bool = True) -> RunDir:
        """A new run folder `base/<name>-<YYYYmmdd-HHMMSS>` (suffixed if taken) or exactly `out`,
        locked by this process (`close` releases it)."""
        if not enabled:  # another DDP rank: it learns the main rank's folder and writes nothing
            return cls(Path(out) if out is not None
                       else Path(base) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}", enabled=False)
        if out is not None:
            root = Path(out)
            _refuse_nonempty(root)
            root.mkdir(parents=True, exist_ok=True)
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            Path(base).mkdir(parents=True, exist_ok=True)
            n = 0
            while True:  # mkdir claims the name: two runs started in the same second differ
                root = Path(base) / (f"{name}-{stamp}" + (f"-{n}" if n else ""))
                try:
                    root.mkdir()
                    break
                except FileExistsError:
                    n += 1
        lock = RunLock.acquire(root)
        try:
            if out is not None:
                _refuse_nonempty(root)  # filled by another run between the check and the lock
            (root / "checkpoints").mkdir(exist_ok=True)
        except BaseException:
            lock.release()
            raise
        return cls(root, enabled=True, lock=lock)

    @classmethod
    def open(cls, path: str | Path, *, enabled: bool = True) -> RunDir:
        """An existing run folder (for `--resume`); `CheckpointError` if it is not one."""
        root = Path(path)
        if not (root / CONFIG).is_file():
            raise CheckpointError(f"`{root}` is not a run directory (no {CONFIG})",
                                  hint="pass the folder a previous run printed as its run dir")
        if not enabled:
            return cls(root, enabled=False)
        lock = RunLock.acquire(root)
        try:
            # what a killed run left: temporary files of its atomic writes (nested run folders,
            # such as a gallery's eval/, clean their own when they are reopened) and torn lines
            _remove_temp_files(root)
            for jsonl in sorted(root.glob("*.jsonl")):
                trim_torn_tail(jsonl)
            _end_with_newline(root / "log.txt")
        except BaseException:
            lock.release()
            raise
        return cls(root, enabled=True, lock=lock)

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
        return [r for r in read_jsonl(self.metrics_path) if isinstance(r, dict)]

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

    def remove_temp_files(self) -> list[Path]:
        """Delete temporary files of interrupted atomic writes in this folder (not in nested run
        folders): `open` does it, and a search once its jobs are over, since a job process killed
        mid-write (a Ray worker) leaves one that the rerun job does not reuse."""
        return _remove_temp_files(self.root) if self.enabled else []

    def close(self) -> None:
        """Flush and close the logs and the TensorBoard writer, and release the folder's lock
        (idempotent)."""
        try:
            self.log.close()
            if self._tb is not None:
                self._tb.close()
                self._tb = None
        finally:
            if self.lock is not None:
                self.lock.release()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _remove_temp_files(root: Path) -> list[Path]:
    # a nested run folder (a gallery's eval/) may be in use by another process: it cleans its own
    return remove_temp_files(root, skip=lambda d: (d / CONFIG).is_file())


def _refuse_nonempty(root: Path) -> None:
    """Refuse `--out` into an existing folder that holds anything (naming a running holder)."""
    if not root.exists():
        return
    if root.is_dir():
        refuse_if_held(root)
        left = [p for p in root.iterdir() if p.name not in (LOCK, "checkpoints")
                or (p.name == "checkpoints" and any(p.iterdir()))]
        if not left:
            return
    raise ConfigError(f"output folder `{root}` exists and is not empty",
                      hint=f"pick a new --out, or continue it with --resume {root}")


def _end_with_newline(path: Path) -> None:
    """Give a human log cut mid-line its newline, so the next line starts on its own."""
    try:
        with open(path, "rb") as f:
            f.seek(-1, 2)
            last = f.read(1)
    except OSError:  # missing or empty
        return
    if last != b"\n":
        with open(path, "a", encoding="utf-8") as f:
            f.write("\n")
