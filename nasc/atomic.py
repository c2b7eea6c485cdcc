"""Atomic file writes: write to a temporary file beside the target, fsync, `os.replace`, then fsync
the directory, so a crash never leaves a half-written model, checkpoint, log or picture under the
final name. Every writer in nasc goes through here. Torch-free (`atomic_save` imports torch lazily).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Call `write(f)` on a temporary file in the target's directory and move it over `path`.

    An existing target keeps its permission bits (so `nasc fmt` does not change a file's mode).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(target.parent))
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return target


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` (UTF-8, `\\n` line ends) to `path` atomically."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """`torch.save(obj)` to `path` atomically."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (not possible on every platform)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
