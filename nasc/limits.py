"""Resource limits, checked before anything large is allocated.

    from nasc import limits
    limits.current().max_memory                      # bytes a network may need (machine memory)
    with limits.max_memory("64G", source="--max-memory"):
        ...                                          # everything inside sees the raised limit
    limits.check_memory(need, "`resnet20`", span=model.span)   # ValidationError over the limit
    data = limits.read_file_bytes(path, max_bytes=limits.MAX_SOURCE_BYTES, what="source file")

The memory limit defaults to the machine's physical memory (`os.sysconf`), or to the environment
variable `NASC_MAX_MEMORY` (`64G`, `512M`, a byte count); `nasc compile/train --max-memory SIZE`
and the config key `run.max_memory` raise or lower it for one run. Other limits derive from it
(the number of cells elaboration accepts) or are fixed bounds of the config schema (batch size,
threads, seeds, trial counts, dataset sizes). Every refusal is a located `NascError` that names
the figure, the limit and how to raise it.

`read_file_bytes` is the one guarded way to read a small input file (sources, configs, `@file`
values): it opens without blocking, refuses anything but a regular file (directories, devices
such as /dev/zero, FIFOs; symlink loops are an error of the open), checks the size first and
reads at most `max_bytes`.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from nasc.errors import ConfigError, NascError, ParseError, ValidationError
from nasc.source import Span

MEMORY_ENV = "NASC_MAX_MEMORY"
FALLBACK_MEMORY = 8 * 2**30  # when the machine's memory cannot be read (non-POSIX)
#: bytes of Python objects one elaborated cell instance may take (a DARTS cell takes well under
#: this); `max_cells` is the memory limit divided by it, so a million cells is refused up front
CELL_BYTES = 2**20
MIN_CELLS = 1_000  # however small the memory limit, this many cells are always accepted

# fixed bounds of the config schema (nasc.train.config and the search sections)
MAX_SEED = 2**63 - 1  # torch.manual_seed takes a 64-bit seed
MAX_LR = 1e4
MAX_BATCH = 2**20
MAX_DATASET_SIZE = 100_000_000  # images (ImageNet-1k has 1.28M)
MAX_IMAGE_SIDE = 16_384
MAX_EPOCHS = 1_000_000
MAX_TRIALS = 100_000  # candidate networks a search may train
MAX_THREADS = 1024  # torch intra-op threads (100000 crashes torch's thread pool)

MAX_DIM = 2**31 - 1  # one tensor dimension (channels, classes, height, width): beyond any real network
MAX_SOURCE_BYTES = 16 * 2**20  # a .nas/.yaml source, a config, an `@file` option value

RAISE_HINT = ("raise it with `--max-memory SIZE` (nasc compile/train), the config key "
              f"`run.max_memory`, or the environment variable {MEMORY_ENV} (e.g. 64G)")

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*\Z")
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def machine_memory() -> int:
    """Physical memory of this machine in bytes (`FALLBACK_MEMORY` when it cannot be read)."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return FALLBACK_MEMORY
    return pages * size if pages > 0 and size > 0 else FALLBACK_MEMORY


def parse_size(value: int | str, key: str = "--max-memory") -> int:
    """`"64G"`, `"512M"`, `"1.5T"`, `"1000000"` or an int -> bytes (binary units); `ConfigError`."""
    if isinstance(value, bool):
        raise ConfigError(f"a memory size, not {value!r}", key=key, hint="e.g. 64G, 512M or a byte count")
    if isinstance(value, int):
        n = value
    else:
        m = _SIZE.match(str(value)) if len(str(value)) <= 40 else None
        if m is None:
            shown = str(value) if len(str(value)) <= 40 else str(value)[:37] + "..."
            raise ConfigError(f"`{shown}` is not a memory size", key=key,
                              hint="e.g. 64G, 512M, 1.5T or a byte count")
        n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n <= 0:
        raise ConfigError("the memory limit must be positive", key=key, hint="e.g. 64G")
    return n


def format_size(n: int) -> str:
    """Bytes for people: `1.50 GiB`; integer arithmetic only, so any size formats (no float overflow)."""
    n = max(0, int(n))
    if n >= 10**6 * 2**50:  # absurd figures: the order of magnitude says enough
        return f"~10^{len(str(n // 2**50)) - 1} PiB"
    for unit, div in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= div:
            hundredths = n * 100 // div
            return f"{hundredths // 100}.{hundredths % 100:02d} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class Limits:
    """The limits in force: the memory a network may need, and where that figure comes from."""

    max_memory: int
    source: str = "the machine's memory"

    @property
    def max_cells(self) -> int:
        """Cell instances elaboration accepts (derived from the memory limit)."""
        return max(MIN_CELLS, self.max_memory // CELL_BYTES)


_scoped: ContextVar[Limits | None] = ContextVar("nasc_limits", default=None)


def default_limits() -> Limits:
    """The limits outside any `max_memory` scope: `NASC_MAX_MEMORY`, else the machine's memory."""
    env = os.environ.get(MEMORY_ENV)
    if env:
        return Limits(parse_size(env, MEMORY_ENV), MEMORY_ENV)
    return Limits(machine_memory())


def current() -> Limits:
    """The limits in force here (the innermost `max_memory` scope, else `default_limits()`)."""
    return _scoped.get() or default_limits()


@contextlib.contextmanager
def max_memory(value: int | str | None, source: str = "--max-memory") -> Iterator[Limits]:
    """Run the block with the memory limit `value` (bytes or `"64G"`); None keeps the current one."""
    if value is None:
        yield current()
        return
    lim = Limits(parse_size(value, source), source)
    token = _scoped.set(lim)
    try:
        yield lim
    finally:
        _scoped.reset(token)


def refuse(message: str, *, span: Span | None = None, key: str | None = None,
           error: type[NascError] = ValidationError, hint: str = RAISE_HINT) -> NascError:
    """The error for a figure over a limit (`message` names both); raise what it returns."""
    return error(message, span, hint, key)


def check_memory(need: int, what: str, *, span: Span | None = None, key: str | None = None,
                 detail: str = "", error: type[NascError] = ValidationError) -> None:
    """Refuse `what` when it needs more than the memory limit in force (`need` bytes)."""
    lim = current()
    if need > lim.max_memory:
        extra = f" ({detail})" if detail else ""
        raise refuse(f"{what} would need about {format_size(need)} of memory{extra}, over the limit of "
                     f"{format_size(lim.max_memory)} ({lim.source})", span=span, key=key, error=error)


def check_cells(n: int, *, span: Span | None = None, key: str | None = None) -> None:
    """Refuse a network of `n` cell instances before elaborating it (the cell count derives from
    the memory limit: `Limits.max_cells`)."""
    lim = current()
    if n > lim.max_cells:
        shown = f"{n:,}" if n < 10**30 else f"~10^{len(str(n)) - 1}"
        raise refuse(f"the network has {shown} cells, over the limit of {lim.max_cells:,} "
                     f"(1 per MiB of the memory limit, {format_size(lim.max_memory)}, {lim.source})",
                     span=span, key=key)


# ---- guarded file reading -------------------------------------------------------------------

def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_file_bytes(path: str | os.PathLike[str], *, max_bytes: int = MAX_SOURCE_BYTES,
                    what: str = "file", error: type[NascError] = ParseError, span: Span | None = None,
                    key: str | None = None, hint: str | None = None) -> bytes:
    """The bytes of the regular file at `path`, at most `max_bytes` of them.

    Opens without blocking (a FIFO would otherwise wait for a writer) and checks the opened
    file's type and size before reading, so a directory, a device (/dev/zero, also through a
    symlink), a FIFO or an oversized file is refused at once with `error` (located by `span` or
    `key`). A missing file raises `FileNotFoundError` unchanged, so callers keep their own message.
    """
    p = os.fspath(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as e:
        why = ("a symlink loop (too many levels of symbolic links)" if e.errno == errno.ELOOP
               else e.strerror or str(e))
        raise error(f"cannot read {what} `{p}`: {why}", span, hint, key) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"`{p}` is {_kind(st.st_mode)}, not a {what}", span,
                        hint or f"give the path of a regular {what}", key)
        if st.st_size > max_bytes:
            raise error(f"{what} `{p}` is {format_size(st.st_size)}, over the limit of "
                        f"{format_size(max_bytes)}", span, hint or f"a {what} is at most that large", key)
        chunks: list[bytes] = []
        total = 0
        while True:  # the size may have changed since fstat: never read past the limit
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise error(f"{what} `{p}` is over the limit of {format_size(max_bytes)}", span,
                            hint or f"a {what} is at most that large", key)
        return b"".join(chunks)
    except OSError as e:
        raise error(f"cannot read {what} `{p}`: {e.strerror or e}", span, hint, key) from None
    finally:
        os.close(fd)


def is_regular_file(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is (or links to) a regular file; never blocks, never raises."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


__all__ = ["CELL_BYTES", "Limits", "MAX_BATCH", "MAX_DIM", "MAX_DATASET_SIZE", "MAX_EPOCHS", "MAX_IMAGE_SIDE", "MAX_LR",
           "MAX_SEED", "MAX_SOURCE_BYTES", "MAX_THREADS", "MAX_TRIALS", "MEMORY_ENV", "RAISE_HINT",
           "check_cells", "check_memory", "current", "default_limits", "format_size", "is_regular_file",
           "machine_memory", "max_memory", "parse_size", "read_file_bytes", "refuse"]
