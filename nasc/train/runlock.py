"""The lock of a run directory: one process at a time writes a run.

    lock = RunLock.acquire(run_root)      # CheckpointError naming the holder if another has it
    ...
    lock.release()                        # also safe to call twice

The lock is the file `RUN/.lock` holding JSON `{"pid", "host", "started", "proc_start", "token",
"argv"}`. It is created complete and atomically: written to a temporary file, then hard-linked to
`.lock` (a link, like `open(O_EXCL)`, fails when the name exists), falling back to
`O_CREAT | O_EXCL` where links are not supported. A lock whose process is gone (its pid is not
alive on this host, or the pid now belongs to a process started later) is stale and is taken
over. Removing a lock (a stale one, or our own on release) happens under an `flock` of the run
folder after reading the file again, so two processes taking over the same stale lock cannot
both win, and a release never removes a lock another process has taken meanwhile (its token
differs). A lock of another host cannot be checked and is never taken over: the message says
how to remove it by hand. The process that holds a lock may take it again (a run reopened in
the same process after an error); the newer holder's token then wins.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nasc.errors import CheckpointError

LOCK = ".lock"


def _proc_start(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot (Linux), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ")"
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def _alive(holder: dict[str, Any]) -> bool:
    """Whether the lock's process still runs (only decidable on this host: elsewhere, True)."""
    if holder.get("host") != socket.gethostname():
        return True
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    started = holder.get("proc_start")
    now = _proc_start(pid)
    # a reused pid: the process with that number started after the lock's process did
    return not (started is not None and now is not None and started != now)


def _read(path: Path) -> dict[str, Any] | None:
    """The lock file's content; None when it is missing; {} when it is unreadable or not ours."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def _folder_guard(root: Path) -> Iterator[None]:
    """An exclusive `flock` of the run folder (a no-op where flock is not available)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    try:
        fd = os.open(root, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # e.g. a file system without flock: O_EXCL alone still guards creation
            pass
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _held_by_other(holder: dict[str, Any]) -> bool:
    """Whether a lock's content names a live process other than this one."""
    mine = holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname()
    return bool(holder) and not mine and _alive(holder)


def _refuse(folder: Path, holder: dict[str, Any]) -> None:
    if not _held_by_other(holder):
        return
    elsewhere = holder.get("host") != socket.gethostname()
    raise CheckpointError(
        f"run folder `{folder}` is in use by another nasc process: {describe_holder(holder)}",
        hint=f"wait for it to finish (or stop it), then continue with --resume {folder}"
             + (f"; if that process is gone, delete the lock file `{folder / LOCK}`" if elsewhere else ""))


def refuse_if_held(root: str | os.PathLike[str]) -> None:
    """Raise `CheckpointError` naming the holder when a live process holds the lock of `root`."""
    holder = _read(Path(root) / LOCK)
    if holder:
        _refuse(Path(root), holder)


def describe_holder(holder: dict[str, Any]) -> str:
    """`pid 123 on host h (started 2024-01-01 12:00:00)` for a lock's content."""
    started = holder.get("started")
    when = (time.strftime(" (started %Y-%m-%d %H:%M:%S)", time.localtime(started))
            if isinstance(started, (int, float)) else "")
    return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}{when}"


class RunLock:
    """A held lock of one run folder (see the module docstring)."""

    def __init__(self, root: Path, info: dict[str, Any]) -> None:
        self.root = root
        self.info = info
        self.held = True

    @property
    def path(self) -> Path:
        """`RUN/.lock`."""
        return self.root / LOCK

    @classmethod
    def acquire(cls, root: str | os.PathLike[str]) -> RunLock:
        """Take the lock of `root` (taking over a stale one); `CheckpointError` if it is held."""
        folder = Path(root)
        path = folder / LOCK
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": round(time.time(), 3),
                "proc_start": _proc_start(os.getpid()), "token": uuid.uuid4().hex,
                "argv": " ".join(sys.argv)[:300]}
        for _ in range(5):  # each round either takes the lock, refuses, or removes a stale one
            if _create(path, info):
                return cls(folder, info)
            with _folder_guard(folder):
                holder = _read(path)
                if holder is None:  # released meanwhile: try again
                    continue
                _refuse(folder, holder)
                # stale (dead process, or a damaged lock file), or our own: take it over
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        raise CheckpointError(f"could not lock run folder `{folder}`: other processes keep taking it",
                              hint="make sure only one nasc process uses this run folder")

    def release(self) -> None:
        """Remove the lock if it is still ours (idempotent)."""
        if not self.held:
            return
        self.held = False
        with _folder_guard(self.root):
            holder = _read(self.path)
            if holder and holder.get("token") == self.info["token"]:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()


def _create(path: Path, info: dict[str, Any]) -> bool:
    """Create the lock file with `info` if no lock exists; whether it was created."""
    data = (json.dumps(info) + "\n").encode("utf-8")
    tmp = path.with_name(f"{LOCK}.{info['token']}.new")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic and exclusive: the lock appears complete or not at all
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links here: exclusive create, then write
            pass
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True
