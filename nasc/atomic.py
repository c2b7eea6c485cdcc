"""Atomic file writes: write to a temporary file beside the target, fsync, `os.replace`, then fsync
the directory, so a crash never leaves a half-written model, checkpoint, log or picture under the
final name. Every writer in nasc goes through here. Torch-free (`atomic_save` imports torch lazily).

Temporary files are named `.<target name>.<8 random chars>.tmp` (`TEMP_NAME`); a process killed
mid-write leaves one behind, which `remove_temp_files` deletes when the run folder is reopened.
Only regular files (or symlinks to one) are ever replaced: writing over a device, a folder or a
socket is refused (`NotARegularFile`), so `-o /dev/null` cannot turn /dev/null into a plain file.

Test hook (crash-safety tests only): `NASC_TEST_KILL_AT="PATTERN:N[:WHEN]"` makes the process
SIGKILL itself at the N-th atomic write (counted in this process) whose target path matches the
glob PATTERN (`*last.pt`), WHEN being `during` (half the data written to the temporary file),
`before` (all data in the temporary file, not yet renamed; the default) or `after` (renamed and
durable). With `NASC_TEST_KILL_ONCE=FILE` it fires only in the first process to create FILE.
"""
from __future__ import annotations

import errno
import fnmatch
import os
import re
import signal
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from nasc.errors import NascError

# `tempfile.mkstemp(prefix=".NAME.", suffix=".tmp")`: 8 characters from its alphabet in between
TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


class NotARegularFile(NascError):
    """The target of a write exists and is a folder, device, FIFO or socket."""


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Call `write(f)` on a temporary file in the target's directory and move it over `path`.

    An existing target keeps its permission bits (so `nasc fmt` does not change a file's mode).
    A target that exists and is not a regular file (or a symlink to one) raises `NotARegularFile`.
    """
    target = Path(path)
    refuse_special(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(target.parent))
    tmp = Path(tmp_name)
    kill = _kill_point(target)
    try:
        with os.fdopen(fd, "wb") as f:
            write(_HalfwayKiller(f) if kill == "during" else f)
            f.flush()
            os.fsync(f.fileno())
        if kill == "before":
            _die()
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    if kill == "after":
        _die()
    return target


def refuse_special(target: Path) -> None:
    """Raise `NotARegularFile` when `target` exists and is not a regular file (links followed)."""
    try:
        mode = os.stat(target).st_mode
    except OSError:  # missing (or a dangling link, which the rename replaces): fine to create
        return
    if stat.S_ISREG(mode):
        return
    what = ("a folder" if stat.S_ISDIR(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    raise NotARegularFile(f"cannot write `{target}`: it is {what}, not a regular file",
                          hint="choose a path of a new or regular file; nasc replaces files atomically "
                               "and never writes into devices or over folders")


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from: torch wraps write errors) is ENOSPC/EDQUOT."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(current):  # torch's C++ writer keeps only the text
            return True
        current = current.__cause__ or current.__context__
    return False


def remove_temp_files(folder: str | os.PathLike[str], *, recursive: bool = True,
                      skip: Callable[[Path], bool] | None = None) -> list[Path]:
    """Delete the temporary files killed atomic writes left in `folder` (names matching
    `TEMP_NAME`, regular files only); returns them. `skip(subfolder)` leaves a subfolder alone."""
    removed: list[Path] = []
    root = Path(folder)
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                if recursive and not (skip is not None and skip(path)):
                    removed += remove_temp_files(path, recursive=True, skip=skip)
            elif entry.is_file(follow_symlinks=False) and TEMP_NAME.match(entry.name):
                path.unlink()
                removed.append(path)
        except OSError:  # vanished meanwhile, or not ours to delete: leave it
            continue
    return removed


# ------------------------------------------------------------------ crash-test hook

_KILL_COUNTS: dict[str, int] = {}


def _kill_point(target: Path) -> str | None:
    """`during`/`before`/`after` when `NASC_TEST_KILL_AT` says to die in this write, else None."""
    spec = os.environ.get("NASC_TEST_KILL_AT")
    if not spec:
        return None
    pattern, _, rest = spec.partition(":")
    count, _, when = rest.partition(":")
    if not fnmatch.fnmatch(str(target), pattern):
        return None
    _KILL_COUNTS[spec] = _KILL_COUNTS.get(spec, 0) + 1
    if _KILL_COUNTS[spec] != int(count or "1"):
        return None
    marker = os.environ.get("NASC_TEST_KILL_ONCE")
    if marker:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return None
    return when or "before"


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _HalfwayKiller:
    """A file wrapper that writes half of the first chunk of 2 bytes or more, then dies."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if len(view) < 2:
            return self._f.write(data)
        self._f.write(view[: len(view) // 2])
        self._f.flush()
        os.fsync(self._f.fileno())
        _die()
        return 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


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
