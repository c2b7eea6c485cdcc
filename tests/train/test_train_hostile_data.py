"""Hostile dataset files: decompression bombs and lying headers (IDX, CIFAR archives), CIFAR
batches with bad labels, and pickles that allocate through an allowed constructor. Each is a
`DataError` before anything large is allocated or inflated (checked by counting inflated bytes)."""
from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from nasc.errors import ConfigError, DataError
from nasc.train import readers
from nasc.train.datasets import load_dataset
from nasc.train.readers import read_idx, safe_unpickle


@pytest.fixture
def inflated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes produced by every zlib decompressor the readers make."""
    out: list[int] = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self, *a: Any, **k: Any) -> None:
            self._d = real(*a, **k)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            chunk = self._d.decompress(data, max_length)
            out.append(len(chunk))
            return chunk

        def __getattr__(self, name: str) -> Any:  # unconsumed_tail, eof, unused_data, flush
            return getattr(self._d, name)

    monkeypatch.setattr(readers.zlib, "decompressobj", Counting)
    return out


def _idx_header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def test_idx_gzip_bomb_and_lying_headers(tmp_path: Path, inflated: list[int]) -> None:
    bomb = tmp_path / "bomb.gz"  # claims 3 bytes, 32 MiB of zeros follow
    bomb.write_bytes(gzip.compress(_idx_header(8, (3,)) + b"\0" * (32 * 2**20)))
    with pytest.raises(DataError, match="expected 3 data bytes"):
        read_idx(bomb)
    assert sum(inflated) <= 16  # the header and one byte past the claimed size, no more
    inflated.clear()
    huge = tmp_path / "huge.gz"  # a header claiming a petabyte
    huge.write_bytes(gzip.compress(_idx_header(8, (10**6, 10**6, 1000))))
    with pytest.raises(DataError, match="IDX header claims shape"):
        read_idx(huge)
    assert sum(inflated) <= 16
    inflated.clear()
    dense = tmp_path / "dense.gz"  # 64 MiB claimed and present, but packed 1000:1 (no real data is)
    dense.write_bytes(gzip.compress(_idx_header(8, (64, 2**20)) + b"\0" * (64 * 2**20)))
    with pytest.raises(DataError, match="over the limit"):
        read_idx(dense)
    assert sum(inflated) <= 16
    liar = tmp_path / "liar"
    liar.write_bytes(_idx_header(8, (1000, 28, 28)) + b"\1" * 10)
    with pytest.raises(DataError, match="expected 784000 data bytes"):
        read_idx(liar)


def test_idx_wide_types_are_byte_swapped_exactly(tmp_path: Path) -> None:
    values = np.array([[1, -2], [70000, -(2**31)]], dtype=">i4")
    f = tmp_path / "ints.gz"
    f.write_bytes(gzip.compress(_idx_header(0x0C, (2, 2)) + values.tobytes()))
    assert read_idx(f).tolist() == values.astype(np.int32).tolist()
    doubles = np.array([1.5, -2.25, 1e300], dtype=">f8")
    g = tmp_path / "doubles"
    g.write_bytes(_idx_header(0x0E, (3,)) + doubles.tobytes())
    assert read_idx(g).tolist() == [1.5, -2.25, 1e300]


def test_pickle_cannot_allocate_through_allowed_constructors() -> None:
    """A 33-byte batch `bytearray(2**40)` (and byte buffers given as sizes) is refused."""
    tiny = b"\x80\x02cbuiltins\nbytearray\n\x8a\x06" + (2**40).to_bytes(6, "little") + b"\x85R."
    assert len(tiny) == 33
    with pytest.raises(DataError, match=r"bytearray\(1,099,511,627,776\)"):
        safe_unpickle(tiny, "data_batch_1")
    # numpy.core.multiarray._frombuffer(2**33, dtype("u1"), (0,), "C"): a size where bytes belong
    as_size = (b"\x80\x02cnumpy.core.multiarray\n_frombuffer\n(\x8a\x05" + (2**33).to_bytes(5, "little")
               + b"cnumpy\ndtype\nX\x02\x00\x00\x00u1\x85RK\x00\x85X\x01\x00\x00\x00CtR.")
    with pytest.raises(DataError, match="not a byte buffer|malformed"):
        safe_unpickle(as_size, "data_batch_1")


def _batch(tmp_path: Path, labels: Any, n: int = 4, name: str = "data_batch_1") -> Path:
    data = np.zeros((n, 3072), dtype=np.uint8)
    batch = {b"data": data} if labels is _MISSING else {b"data": data, b"labels": labels}
    (tmp_path / name).write_bytes(pickle.dumps(batch, protocol=2))
    return tmp_path / name


_MISSING = object()


@pytest.mark.parametrize("labels, message", [
    (_MISSING, "missing `data` or `labels`"),
    ([10**30, 0, 0, 0], "holds a int|outside 0..9"),
    ([2**70] * 4, "outside 0..9"),
    (["a", "b", "c", "d"], "holds a str"),
    ([0.5, 1.0, 2.0, 3.0], "holds a float"),
    ([True, False, True, False], "holds a bool"),
    (None, "is a NoneType, not a list"),
    ("abcd", "is a str, not a list"),
    ([0, 1], "4 images but 2 labels"),
    ([0, 1, 2, -1], "outside 0..9"),
    (np.array([0.0, 1.0, 2.0, 3.0]), "not a 1-D integer array"),
])
def test_cifar_labels_are_checked(tmp_path: Path, labels: Any, message: str) -> None:
    raw = _batch(tmp_path, labels).read_bytes()
    with pytest.raises(DataError, match=message):
        readers._cifar_batch(raw, "data_batch_1", "labels", 10)


def test_cifar_tar_bomb_is_refused_from_its_headers(tmp_path: Path, inflated: list[int]) -> None:
    """A small .tar.gz whose first member claims 4 GiB: refused from the member header, without
    inflating the member."""
    archive = tmp_path / "cifar-10-python.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = 64 * 2**20
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    archive.write_bytes(gzip.compress(buf.getvalue()))
    assert archive.stat().st_size < 2**20
    with pytest.raises(DataError, match="decompression bomb"):
        readers.read_cifar10(tmp_path)


def test_builtin_dataset_size_is_checked_against_memory() -> None:
    with pytest.raises(ConfigError, match="built-in dataset .* over the limit"):
        load_dataset("builtin", train_size=10**8)
    assert torch.get_num_threads() >= 1
