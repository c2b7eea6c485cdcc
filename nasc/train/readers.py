"""Readers for datasets stored as local files: CIFAR python pickles, MNIST IDX files, image folders.

Usage:
    from nasc.train.readers import read_cifar10, read_cifar100, read_mnist, read_image_folder
    (train_x, train_y), (test_x, test_y) = read_cifar10(Path("./data"))   # uint8 NCHW, int64

CIFAR pickles are opened with a restricted unpickler: only the globals a CIFAR file needs are
resolved, and numpy arrays are rebuilt by stand-ins that copy the raw bytes into a torch tensor, so
no numpy (or any other) code runs while loading and a tampered file cannot execute anything.
MNIST/Fashion-MNIST IDX files may be gzipped. Image folders need torchvision (optional).
"""
from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nasc import limits
from nasc.errors import DataError

Split = tuple[Tensor, Tensor]

# ------------------------------------------------------------------------------ safe unpickling

_NP_DTYPES: dict[str, torch.dtype] = {
    "u1": torch.uint8, "i1": torch.int8, "i2": torch.int16, "i4": torch.int32, "i8": torch.int64,
    "u2": torch.uint16, "u4": torch.uint32, "u8": torch.uint64,
    "f2": torch.float16, "f4": torch.float32, "f8": torch.float64, "b1": torch.bool,
}
_NP_MODULES = {"numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
               "numpy._core.numeric"}


class _DType:
    """Stand-in for `numpy.dtype`: remembers the type code and byte order."""

    def __init__(self, code: Any = "u1", align: Any = False, copy: Any = True) -> None:
        self.code = code.decode("latin1") if isinstance(code, bytes) else str(code)
        self.order = "|"

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1:
            order = state[1]
            self.order = order.decode("latin1") if isinstance(order, bytes) else str(order)

    def torch_dtype(self) -> torch.dtype:
        code = self.code.lstrip("<>|=")
        if code not in _NP_DTYPES:
            raise DataError(f"unsupported array type `{self.code}` in pickle")
        if self.order == ">" or self.code.startswith(">"):
            raise DataError("big-endian arrays in pickles are not supported")
        return _NP_DTYPES[code]


class _Array:
    """Stand-in for `numpy.ndarray`: rebuilt by `__setstate__` from shape, dtype and raw bytes."""

    def __init__(self, *args: Any) -> None:
        self.tensor: Tensor | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) != 5:
            raise DataError("malformed array in pickle")
        _version, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _DType):
            raise DataError("malformed array dtype in pickle")
        if isinstance(raw, str):  # Python 2 pickles store the buffer as a str
            raw = raw.encode("latin1")
        if not isinstance(raw, (bytes, bytearray)):
            raise DataError("object arrays in pickles are not supported")
        self.tensor = _from_bytes(raw, dtype, _shape(shape), "F" if fortran else "C")


def _from_bytes(raw: bytes | bytearray, dtype: _DType, shape: tuple[int, ...], order: str) -> Tensor:
    tdtype = dtype.torch_dtype()
    count = 1
    for d in shape:
        count *= int(d)
    itemsize = torch.empty((), dtype=tdtype).element_size()
    if len(raw) != count * itemsize:
        raise DataError(f"array data has {len(raw)} bytes, expected {count * itemsize} "
                        f"for shape {shape}", hint="the file is truncated or corrupt")
    flat = torch.frombuffer(bytearray(raw), dtype=tdtype) if count else torch.empty(0, dtype=tdtype)
    if order == "F":
        return flat.reshape(shape[::-1]).permute(*reversed(range(len(shape)))).contiguous()
    return flat.reshape(shape)


def _reconstruct(cls: Any, shape: Any, dtype: Any) -> _Array:
    return _Array()


def _byte_count(value: Any, limit: int, what: str) -> None:
    """Refuse a size argument of an allowed constructor (`bytearray(n)` allocates n bytes) above
    `limit`: a real CIFAR pickle only copies bytes it contains, so it never asks for more than
    the pickle's own size."""
    if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= limit:
        shown = f"{value:,}" if abs(value) < 10**30 else "a huge size"
        raise DataError(f"`{what}({shown})` in a pickle of {limit:,} bytes would allocate more than the "
                        "file holds", hint="the file is not a plain CIFAR batch; it may have been tampered with")


def _bytes_arg(value: Any, what: str) -> bytes:
    """The buffer argument of `_frombuffer`/`scalar`: bytes (or a Python 2 str), never a size."""
    if isinstance(value, str):
        return value.encode("latin1")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise DataError(f"`{what}` in a pickle got {type(value).__name__}, not a byte buffer",
                    hint="the file is not a plain CIFAR batch; it may have been tampered with")


_ENCODINGS = {"latin1", "latin-1", "utf-8", "utf8", "ascii"}


def _constructors(limit: int) -> dict[tuple[str, str], Callable[..., Any]]:
    """The globals a CIFAR pickle may use, bound to the pickle's size `limit` so none of them can
    allocate more than the file holds (a 33-byte `bytearray(2**40)` is refused)."""

    def make_bytearray(*args: Any) -> bytearray:
        if args:
            _byte_count(args[0], limit, "bytearray")
            if not isinstance(args[0], (int, str, bytes, bytearray)):  # iterables of ints are not CIFAR's
                raise DataError(f"`bytearray` in a pickle got {type(args[0]).__name__}")
        return bytearray(*args[:2])

    def codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
        # Python 3 pickles bytes at protocol < 3 as `_codecs.encode(str, "latin1")`
        if not isinstance(text, str) or str(encoding).lower() not in _ENCODINGS:
            raise DataError("unexpected `_codecs.encode` call in a pickle")
        return text.encode(str(encoding))

    def frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> Tensor:
        if not isinstance(dtype, _DType):
            raise DataError("malformed array dtype in pickle")
        return _from_bytes(_bytes_arg(buf, "frombuffer"), dtype, _shape(shape), str(order))

    def scalar(dtype: Any, raw: Any) -> Any:
        if not isinstance(dtype, _DType):
            raise DataError("malformed array dtype in pickle")
        return _from_bytes(_bytes_arg(raw, "scalar"), dtype, (), "C").item()

    return {("_codecs", "encode"): codecs_encode, ("builtins", "bytearray"): make_bytearray,
            ("__builtin__", "bytearray"): make_bytearray,
            **{(m, "_frombuffer"): frombuffer for m in _NP_MODULES},
            **{(m, "scalar"): scalar for m in _NP_MODULES}}


def _shape(shape: Any) -> tuple[int, ...]:
    """An array shape from a pickle: a short tuple of non-negative ints (anything else refused)."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or len(shape) > 32 or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise DataError("malformed array shape in pickle")
    return tuple(shape)


class _SafeUnpickler(pickle.Unpickler):
    """Resolves only the globals a CIFAR pickle needs; anything else is refused. Every allowed
    constructor is bounded by the pickle's size (`limit`)."""

    def __init__(self, file: io.BytesIO, limit: int) -> None:
        super().__init__(file, encoding="bytes")
        self._globals = _constructors(limit)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._globals:
            return self._globals[(module, name)]
        if module in _NP_MODULES:
            if name == "_reconstruct":
                return _reconstruct
            if name == "ndarray":
                return _Array
            if name == "dtype":
                return _DType
        raise DataError(f"refusing to load `{module}.{name}` from a pickle",
                        hint="the file is not a plain CIFAR batch; it may have been tampered with")


def _unwrap(obj: Any) -> Any:
    """Replace array stand-ins by tensors and bytes keys by str, recursively."""
    if isinstance(obj, _Array):
        if obj.tensor is None:
            raise DataError("array without data in pickle")
        return obj.tensor
    if isinstance(obj, dict):
        return {(k.decode("latin1") if isinstance(k, bytes) else k): _unwrap(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unwrap(v) for v in obj)
    return obj


def safe_unpickle(data: bytes, where: str) -> Any:
    """Unpickle `data` with the restricted unpickler (`DataError` on anything unexpected; no
    allowed constructor may allocate more than `len(data)` bytes)."""
    try:
        obj = _unwrap(_SafeUnpickler(io.BytesIO(data), len(data)).load())
    except RecursionError:
        raise DataError(f"{where}: the pickle is nested too deeply for a CIFAR batch") from None
    except DataError as err:
        err.message = f"{where}: {err.message}"
        err.args = (err.message,)
        raise
    except Exception as exc:  # any unpickling failure means a corrupt file
        raise DataError(f"{where}: not a readable pickle ({type(exc).__name__}: {str(exc)[:200]})",
                        hint="the file is truncated or corrupt; download it again") from None
    return obj


# ------------------------------------------------------------------------------------- CIFAR

MAX_FILE_BYTES = 4 * 2**30  # one dataset file (CIFAR batch, IDX file) read or decompressed
ARCHIVE_RATIO = 32  # a real dataset archive decompresses to ~1.1x; a bomb to 1000x


def _file_limit() -> int:
    """The most bytes one dataset file may hold once read or decompressed (and the memory limit)."""
    return min(MAX_FILE_BYTES, limits.current().max_memory)


def _read_file(path: Path, what: str) -> bytes:
    """A dataset file's bytes: a regular file under the size limit, else `DataError`."""
    try:
        return limits.read_file_bytes(path, max_bytes=_file_limit(), what=what, error=DataError,
                                      key=str(path))
    except FileNotFoundError:
        raise DataError(f"`{path}` not found") from None


def _cifar_source(root: Path, folder: str, archive: str, names: list[str]) -> Callable[[str], bytes]:
    """A function reading member `name` from `root`, `root/folder` or `root/archive` (tar.gz)."""
    for base in (root, root / folder):
        if all((base / n).is_file() for n in names):
            return lambda n, base=base: _read_file(base / n, "CIFAR batch")
    tar_path = root if root.is_file() else root / archive
    if tar_path.is_file():
        members = _tar_members(tar_path, set(names))
        if all(n in members for n in names):
            def read(n: str) -> bytes:
                tar, member = members[n]
                try:
                    f = tar.extractfile(member)
                    data = f.read(member.size + 1) if f is not None else b""
                except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                    raise DataError(f"cannot read `{n}` from `{tar_path}`: {exc}") from None
                if len(data) != member.size:
                    raise DataError(f"`{n}` in `{tar_path}` is truncated", hint="download the archive again")
                return data
            return read
    raise DataError(f"CIFAR files not found under `{root}` (looked for {', '.join(names)})",
                    hint=f"extract {archive} there (it unpacks to `{folder}/`), "
                         "or use `--data builtin`")


def _tar_members(tar_path: Path, wanted: set[str]) -> dict[str, tuple[tarfile.TarFile, tarfile.TarInfo]]:
    """The members named in `wanted` of a (compressed) tar archive, found by walking its headers
    one by one and stopping once all are found. Before each step, the decompressed offset it
    would reach is checked against a bound derived from the archive's size (`ARCHIVE_RATIO`) and
    the file limit, so a decompression bomb is refused instead of inflated."""
    try:
        size = tar_path.stat().st_size
    except OSError as exc:
        raise DataError(f"cannot read archive `{tar_path}`: {exc.strerror or exc}") from None
    bound = min(_file_limit(), ARCHIVE_RATIO * size + 2**20)
    found: dict[str, tuple[tarfile.TarFile, tarfile.TarInfo]] = {}
    try:
        tar = tarfile.open(tar_path, "r:*")
        for _ in range(100_000):  # members: a CIFAR archive has a handful
            member = tar.next()
            if member is None:
                break
            end = member.offset_data + member.size
            if end > bound:
                raise DataError(f"archive `{tar_path}` unpacks to more than {limits.format_size(bound)} "
                                f"(member `{member.name}` alone claims {limits.format_size(member.size)})",
                                hint="a CIFAR archive is about as large unpacked as packed; this one "
                                     "may be a decompression bomb")
            name = Path(member.name).name
            if member.isfile() and name in wanted and name not in found:
                found[name] = (tar, member)
                if len(found) == len(wanted):
                    break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read archive `{tar_path}`: {exc}") from None
    return found


def _cifar_labels(labels: Any, n: int, classes: int, where: str, key: str) -> Tensor:
    """The labels of a CIFAR batch as int64, checked before any tensor is built from them: a list
    of `n` ints (or a 1-D integer array) in 0..classes-1."""
    if isinstance(labels, Tensor):
        if labels.dim() != 1 or labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise DataError(f"{where}: `{key}` is not a 1-D integer array")
        y = labels.to(torch.int64)
    elif isinstance(labels, (list, tuple)):
        if len(labels) != n:
            raise DataError(f"{where}: {n} images but {len(labels)} labels")
        if not all(type(v) is int for v in labels):  # bools, floats, huge-int objects, strings...
            bad = next(v for v in labels if type(v) is not int)
            raise DataError(f"{where}: `{key}` holds a {type(bad).__name__}, not an integer label")
        if labels and not all(0 <= v < classes for v in labels):
            raise DataError(f"{where}: a label in `{key}` is outside 0..{classes - 1}")
        y = torch.tensor(labels, dtype=torch.int64)
    else:
        raise DataError(f"{where}: `{key}` is a {type(labels).__name__}, not a list of labels")
    if y.numel() != n:
        raise DataError(f"{where}: {n} images but {y.numel()} labels")
    if n and (int(y.min()) < 0 or int(y.max()) >= classes):
        raise DataError(f"{where}: a label in `{key}` is outside 0..{classes - 1}")
    return y


def _cifar_batch(raw: bytes, where: str, label_key: str, classes: int) -> Split:
    batch = safe_unpickle(raw, where)
    if not isinstance(batch, dict) or "data" not in batch or label_key not in batch:
        raise DataError(f"{where}: not a CIFAR batch (missing `data` or `{label_key}`)")
    data, labels = batch["data"], batch[label_key]
    if not isinstance(data, Tensor) or data.dtype != torch.uint8 or data.dim() != 2 \
            or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{where}: `data` is not a uint8 array of shape (N, 3072)")
    y = _cifar_labels(labels, int(data.shape[0]), classes, where, label_key)
    return data.reshape(-1, 3, 32, 32).clone(), y


def read_cifar10(root: Path) -> tuple[Split, Split]:
    """CIFAR-10 python batches (`data_batch_1..5`, `test_batch`) from a folder or the .tar.gz."""
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    read = _cifar_source(root, "cifar-10-batches-py", "cifar-10-python.tar.gz", names)
    parts = [_cifar_batch(read(n), n, "labels", 10) for n in names[:-1]]
    train = (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
    return train, _cifar_batch(read("test_batch"), "test_batch", "labels", 10)


def read_cifar100(root: Path) -> tuple[Split, Split]:
    """CIFAR-100 python files (`train`, `test`, labels from `fine_labels`)."""
    read = _cifar_source(root, "cifar-100-python", "cifar-100-python.tar.gz", ["train", "test"])
    return (_cifar_batch(read("train"), "train", "fine_labels", 100),
            _cifar_batch(read("test"), "test", "fine_labels", 100))


# --------------------------------------------------------------------------------------- IDX

_IDX_TYPES: dict[int, tuple[torch.dtype, str]] = {
    0x08: (torch.uint8, "B"), 0x09: (torch.int8, "b"), 0x0B: (torch.int16, ">h"),
    0x0C: (torch.int32, ">i"), 0x0D: (torch.float32, ">f"), 0x0E: (torch.float64, ">d"),
}


def _idx_size(head: bytes, path: Path) -> tuple[int, tuple[int, ...], int]:
    """(header bytes, dims, total bytes) an IDX header claims; `DataError` on a bad magic number."""
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
        raise DataError(f"`{path}` is not an IDX file (bad magic number)")
    ndim = head[3]
    header = 4 + 4 * ndim
    if len(head) < header:
        raise DataError(f"`{path}`: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", head[4:header])
    count = 1
    for d in dims:
        count *= d
    return header, dims, header + count * struct.calcsize(_IDX_TYPES[head[2]][1])


def _inflate(d: Any, data: bytes, want: int) -> bytes:
    """Up to `want` more decompressed bytes from `d`, fed `data` (pass `d.unconsumed_tail` to
    continue: each call replaces the tail with what it left of its own input)."""
    out = bytearray()
    chunk = d.decompress(data, want)
    while True:
        out += chunk
        if len(out) >= want or not d.unconsumed_tail:
            return bytes(out)
        chunk = d.decompress(d.unconsumed_tail, want - len(out))


def _read_idx_bytes(path: Path) -> bytes:
    """The (decompressed) bytes of an IDX file, never more than its header claims: a gzip file is
    inflated header first, the claimed size checked against the limits, then at most that much
    (plus one byte, to detect a lying header) is inflated."""
    raw = _read_file(path, "IDX file")
    if raw[:2] != b"\x1f\x8b":
        return raw
    limit = min(_file_limit(), ARCHIVE_RATIO * len(raw) + 2**20)  # real IDX data packs ~4:1
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        head = _inflate(d, raw, 4)
        head += _inflate(d, d.unconsumed_tail, 4 * head[3]) if len(head) == 4 else b""
        header, dims, claimed = _idx_size(head, path)
        if claimed > limit:
            raise DataError(f"`{path}`: the IDX header claims shape {dims} ({limits.format_size(claimed)}), "
                            f"over the limit of {limits.format_size(limit)}",
                            hint="the header is corrupt or hostile, or the file is too large to load")
        return head + _inflate(d, d.unconsumed_tail, claimed - len(head) + 1)
    except zlib.error as exc:
        raise DataError(f"cannot read `{path}`: corrupt gzip data ({exc})") from None


def read_idx(path: Path) -> Tensor:
    """One IDX file (optionally gzip-compressed) as a tensor; a header whose claimed size does not
    match the data is refused before the data is inflated or copied."""
    raw = _read_idx_bytes(path)
    header, dims, claimed = _idx_size(raw[:4 + 4 * raw[3]] if len(raw) >= 4 else raw, path)
    dtype, fmt = _IDX_TYPES[raw[2]]
    if len(raw) != claimed:
        raise DataError(f"`{path}`: expected {claimed - header} data bytes for shape {dims}, "
                        f"found {len(raw) - header}{'+' if len(raw) > claimed else ''}",
                        hint="the file is truncated or corrupt")
    itemsize = struct.calcsize(fmt)
    body = bytearray(raw[header:])
    if not body:
        return torch.empty(dims, dtype=dtype)
    if itemsize > 1:  # IDX is big-endian: reverse each item's bytes (no per-value Python objects)
        swapped = torch.frombuffer(body, dtype=torch.uint8).view(-1, itemsize).flip(1).contiguous()
        return swapped.view(dtype).reshape(dims)
    return torch.frombuffer(body, dtype=dtype).reshape(dims)


_IDX_NAMES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _find_idx(root: Path, role: str, subdir: str) -> Path:
    for base in (root, root / "raw", root / subdir / "raw", root / subdir):
        for stem in _IDX_NAMES[role]:
            for name in (stem, stem + ".gz"):
                if (base / name).is_file():
                    return base / name
    raise DataError(f"`{_IDX_NAMES[role][0]}[.gz]` not found under `{root}`",
                    hint="put the four IDX files (optionally .gz) in that folder, "
                         "or use `--data builtin`")


def read_mnist(root: Path, subdir: str = "MNIST") -> tuple[Split, Split]:
    """MNIST-style IDX files (`train-images-idx3-ubyte[.gz]`, ...) as (N, 1, 28, 28) uint8."""
    out = []
    for split in ("train", "test"):
        images = read_idx(_find_idx(root, f"{split}_images", subdir))
        labels = read_idx(_find_idx(root, f"{split}_labels", subdir))
        if images.dim() != 3 or images.dtype != torch.uint8:
            raise DataError(f"{split} images: expected a uint8 (N, H, W) IDX array")
        if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
            raise DataError(f"{split}: {images.shape[0]} images but labels of shape {tuple(labels.shape)}")
        out.append((images.unsqueeze(1).clone(), labels.to(torch.int64)))
    return out[0], out[1]


# ------------------------------------------------------------------------------ image folders

def read_image_folder(root: Path, image_size: int | None) -> tuple[Split, Split, list[str]]:
    """`root/train/<class>/*` and `root/test/<class>/*` (or `val/`) via torchvision's ImageFolder."""
    try:
        from torchvision.datasets import ImageFolder  # type: ignore[import-not-found]
        from torchvision.transforms import functional as TF  # type: ignore[import-not-found]
    except ImportError:
        raise DataError("image-folder datasets need torchvision, which is not installed",
                        hint="`pip install torchvision`, or convert the images to another format"
                        ) from None
    test_dir = next((root / d for d in ("test", "val") if (root / d).is_dir()), None)
    if not (root / "train").is_dir() or test_dir is None:
        raise DataError(f"`{root}` must contain `train/<class>/` and `test/<class>/` (or `val/`)")
    splits: list[Split] = []
    classes: list[str] = []
    for folder in (root / "train", test_dir):
        ds = ImageFolder(str(folder))
        if classes and ds.classes != classes:
            raise DataError(f"`{folder}` has classes {ds.classes}, train has {classes}")
        classes = ds.classes
        images, labels = [], []
        for path, label in ds.samples:
            img = ds.loader(path).convert("RGB")
            if image_size is not None:
                img = img.resize((image_size, image_size))
            images.append(TF.pil_to_tensor(img))
            labels.append(label)
        if not images:
            raise DataError(f"`{folder}` holds no images")
        if len({tuple(t.shape) for t in images}) > 1:
            raise DataError(f"images in `{folder}` differ in size", hint="set `data.image_size`")
        splits.append((torch.stack(images), torch.tensor(labels, dtype=torch.int64)))
    return splits[0], splits[1], classes
