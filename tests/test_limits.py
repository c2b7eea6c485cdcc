"""`nasc.limits`: sizes, the memory scope, and the guarded file reader (devices, FIFOs, links)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from nasc import limits
from nasc.errors import ConfigError, ParseError, ValidationError


def test_parse_and_format_sizes() -> None:
    assert limits.parse_size("64G") == 64 * 2**30
    assert limits.parse_size("1.5k") == 1536
    assert limits.parse_size(1000) == 1000
    for bad in ("12Q", "", "-1G", "0", "x" * 100):
        with pytest.raises(ConfigError):
            limits.parse_size(bad)
    assert limits.format_size(3 * 2**30 + 2**29) == "3.50 GiB"
    assert limits.format_size(10**400).startswith("~10^")  # no float overflow on any figure


def test_memory_scope_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(limits.MEMORY_ENV, raising=False)
    assert limits.current().max_memory == limits.machine_memory() > 0
    monkeypatch.setenv(limits.MEMORY_ENV, "2G")
    assert limits.current().max_memory == 2 * 2**30
    with limits.max_memory("1M") as lim:
        assert limits.current() is lim and lim.max_memory == 2**20 and lim.source == "--max-memory"
        assert lim.max_cells == limits.MIN_CELLS  # derived, never below the floor
        with pytest.raises(ValidationError, match="over the limit of 1.00 MiB.*--max-memory") as e:
            limits.check_memory(2**21, "`net`")
        assert "--max-memory" in (e.value.hint or "") and limits.MEMORY_ENV in (e.value.hint or "")
    assert limits.current().max_memory == 2 * 2**30


@pytest.fixture
def specials(tmp_path: Path) -> dict[str, Path]:
    """A directory, a FIFO, a symlink loop, a link to /dev/zero, an oversized and a good file."""
    (tmp_path / "dir.nas").mkdir()
    os.mkfifo(tmp_path / "fifo.nas")
    os.symlink(tmp_path / "b.nas", tmp_path / "a.nas")
    os.symlink(tmp_path / "a.nas", tmp_path / "b.nas")
    os.symlink("/dev/zero", tmp_path / "zero.nas")
    (tmp_path / "big.nas").write_bytes(b"#" * 2000)
    (tmp_path / "ok.nas").write_text("# ok\n")
    return {"dir": tmp_path / "dir.nas", "fifo": tmp_path / "fifo.nas", "loop": tmp_path / "a.nas",
            "zero": tmp_path / "zero.nas", "device": Path("/dev/zero"), "big": tmp_path / "big.nas",
            "ok": tmp_path / "ok.nas"}


def test_read_file_bytes_refuses_special_files_unread(specials: dict[str, Path]) -> None:
    """Each refusal happens on the opened file's type or size: nothing is read (a FIFO without a
    writer would block, /dev/zero never ends), and the error names the path and what it is."""
    expected = {"dir": "is a directory", "fifo": "is a FIFO", "loop": "symlink loop", "zero": "is a device",
                "device": "is a device", "big": "over the limit of 1000 B"}
    for name, what in expected.items():
        with pytest.raises(ParseError, match=what) as e:
            limits.read_file_bytes(specials[name], max_bytes=1000, what="source file", key=str(specials[name]))
        assert e.value.key == str(specials[name])
    assert limits.read_file_bytes(specials["ok"], max_bytes=1000) == b"# ok\n"
    with pytest.raises(FileNotFoundError):
        limits.read_file_bytes(specials["ok"].with_name("missing.nas"))
    assert not limits.is_regular_file(specials["fifo"]) and limits.is_regular_file(specials["ok"])
