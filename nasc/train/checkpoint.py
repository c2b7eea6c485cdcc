"""Checkpoints of nested loops: one file holding each loop's state under its own key.

Usage:
    from nasc.train.checkpoint import Checkpoint
    ckpt = Checkpoint(run_dir / "checkpoints" / "last.pt")      # loads the file if it exists
    saved = ckpt.get("search")                                  # None on a fresh run
    start = saved["index"] + 1 if saved else 0
    for i in range(start, n_iters):
        ...                                                     # inner loops use "search/<i>/train"
        ckpt.commit("search", {"index": i, "alphas": alphas})   # just after the iteration

The scheme (Archai's notes): every loop has a unique key and saves its index and state *just
after* each iteration; on restore a loop that finds its key continues after that iteration. A
commit drops the keys nested under it (`"search/..."`): the inner loops of a finished iteration
must start afresh in the next one. The file is rewritten atomically (temp file, fsync,
`os.replace`, fsync of the folder) on each commit, so a run killed at any instant leaves either
the previous or the new checkpoint, never a torn one.

States are plain containers of tensors, numbers and strings (cloned to the CPU at commit, since
an outer loop's snapshot must not follow later in-place updates of live parameters), and
files are read back with `torch.load(weights_only=True)`. `rng_state()`/`set_rng_state()`
capture torch (CPU, CUDA), Python and numpy global generators in that form.
"""
from __future__ import annotations

import random
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from nasc.atomic import atomic_save, is_disk_full
from nasc.errors import CheckpointError

FORMAT = "nasc-checkpoint"
VERSION = 1


def snapshot(value: Any) -> Any:
    """A deep copy of `value` with every tensor detached and cloned to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, Mapping):
        return {k: snapshot(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snapshot(v) for v in value]
    if isinstance(value, tuple):
        return tuple(snapshot(v) for v in value)
    return value


def load_file(path: str | Path) -> Any:
    """`torch.load(weights_only=True)` on the CPU; `CheckpointError` when unreadable."""
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint `{path}` not found") from None
    except Exception as exc:  # unpickling errors of every kind mean a bad file
        raise CheckpointError(f"cannot read checkpoint `{path}`: {exc}",
                              hint="the file is corrupt or was written by something else") from None


class Checkpoint:
    """The states of all nested loops of one run, persisted in one file (None: in memory only)."""

    def __init__(self, path: str | Path | None, *, writable: bool = True) -> None:
        self.path = Path(path) if path is not None else None
        self.writable = writable
        self.loops: dict[str, Any] = {}
        if self.path is not None and self.path.exists():
            data = load_file(self.path)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise CheckpointError(f"`{self.path}` is not a nasc checkpoint")
            if data.get("version") != VERSION:
                raise CheckpointError(f"`{self.path}` has checkpoint version {data.get('version')}, "
                                      f"this nasc reads version {VERSION}")
            self.loops = dict(data["loops"])

    def get(self, key: str) -> Any:
        """The state last committed under `key`, or None."""
        return self.loops.get(key)

    def keys(self) -> list[str]:
        """Keys of the loops that have state."""
        return list(self.loops)

    def commit(self, key: str, state: Mapping[str, Any]) -> None:
        """Record `state` for loop `key`, forget its nested loops, and write the file."""
        prefix = key + "/"
        self.loops = {k: v for k, v in self.loops.items() if not k.startswith(prefix)}
        self.loops[key] = snapshot(dict(state))
        self.save()

    def remove(self, key: str) -> None:
        """Forget loop `key` and its nested loops (in memory; call `save()` to persist)."""
        prefix = key + "/"
        self.loops = {k: v for k, v in self.loops.items() if k != key and not k.startswith(prefix)}

    def save(self) -> None:
        """Write the file atomically (a no-op when in memory only or not writable).

        A failed write (a full disk above all) raises `CheckpointError`; the atomic writer has
        then left the previous checkpoint file as it was, and the message says so.
        """
        if self.path is None or not self.writable:
            return
        try:
            atomic_save({"format": FORMAT, "version": VERSION, "loops": self.loops}, self.path)
        except (OSError, RuntimeError) as exc:  # torch reports a failed write as RuntimeError
            previous = ("the previous checkpoint is intact" if self.path.is_file()
                        else "no checkpoint was written yet")
            if is_disk_full(exc):
                raise CheckpointError(f"disk full while writing `{self.path}`; {previous}",
                                      hint="free some space, then continue with --resume") from None
            if isinstance(exc, RuntimeError) and not isinstance(exc.__context__, OSError):
                raise  # a genuine torch error, not an I/O failure
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc.__context__ or exc)
            raise CheckpointError(f"cannot write `{self.path}`: {reason}; {previous}",
                                  hint="check the run folder is writable, then continue with --resume") from None


def rng_state() -> dict[str, Any]:
    """The global generators' states as plain containers (torch CPU/CUDA, Python, numpy)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": _to_lists(random.getstate())}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    np = sys.modules.get("numpy")
    if np is not None:  # only if something imported numpy; never import it just for this
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = [kind, torch.from_numpy(keys.astype("int64")), int(pos), int(has_gauss),
                          float(cached)]
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore a `rng_state()`."""
    torch.set_rng_state(state["torch"])
    random.setstate(_to_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np = sys.modules.get("numpy")
    if np is not None and "numpy" in state:
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype("uint32"), pos, has_gauss, cached))


def _to_lists(value: Any) -> Any:
    return [_to_lists(v) for v in value] if isinstance(value, tuple) else value


def _to_tuples(value: Any) -> Any:
    return tuple(_to_tuples(v) for v in value) if isinstance(value, list) else value
