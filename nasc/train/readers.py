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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

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
        self.tensor = _from_bytes(raw, dtype, tuple(shape), "F" if fortran else "C")


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


def _frombuffer(buf: Any, dtype: _DType, shape: Any, order: str) -> Tensor:
    return _from_bytes(bytes(buf), dtype, tuple(shape), order)


def _scalar(dtype: _DType, raw: Any) -> Any:
    if isinstance(raw, str):
        raw = raw.encode("latin1")
    return _from_bytes(bytes(raw), dtype, (), "C").item()


def _codecs_encode(text: str, encoding: str = "utf-8") -> bytes:
    # Python 3 pickles bytes at protocol < 3 as `_codecs.encode(str, "latin1")`.
    return text.encode(encoding)


_SAFE_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    ("_codecs", "encode"): _codecs_encode,
    ("builtins", "bytearray"): bytearray,
    ("__builtin__", "bytearray"): bytearray,
}


class _SafeUnpickler(pickle.Unpickler):
    """Resolves only the globals a CIFAR pickle needs; anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[(module, name)]
        if module in _NP_MODULES:
            if name == "_reconstruct":
                return _reconstruct
            if name == "ndarray":
                return _Array
            if name == "dtype":
                return _DType
            if name == "_frombuffer":
                return _frombuffer
            if name == "scalar":
                return _scalar
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
    """Unpickle `data` with the restricted unpickler (`DataError` on anything unexpected)."""
    try:
        obj = _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except DataError as err:
        err.message = f"{where}: {err.message}"
        err.args = (err.message,)
        raise
    except Exception as exc:  # any unpickling failure means a corrupt file
        raise DataError(f"{where}: not a readable pickle ({type(exc).__name__}: {exc})",
                        hint="the file is truncated or corrupt; download it again") from None
    return _unwrap(obj)


# ------------------------------------------------------------------------------------- CIFAR

def _cifar_source(root: Path, folder: str, archive: str, names: list[str]) -> Callable[[str], bytes]:
    """A function reading member `name` from `root`, `root/folder` or `root/archive` (tar.gz)."""
    for base in (root, root / folder):
        if all((base / n).is_file() for n in names):
            return lambda n, base=base: (base / n).read_bytes()
    tar_path = root if root.is_file() else root / archive
    if tar_path.is_file():
        try:
            tar = tarfile.open(tar_path, "r:*")
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
        except (tarfile.TarError, OSError) as exc:
            raise DataError(f"cannot read archive `{tar_path}`: {exc}") from None
        if all(n in members for n in names):
            def read(n: str) -> bytes:
                f = tar.extractfile(members[n])
                assert f is not None
                return f.read()
            return read
    raise DataError(f"CIFAR files not found under `{root}` (looked for {', '.join(names)})",
                    hint=f"extract {archive} there (it unpacks to `{folder}/`), "
                         "or use `--data builtin`")


def _cifar_batch(raw: bytes, where: str, label_key: str) -> Split:
    batch = safe_unpickle(raw, where)
    if not isinstance(batch, dict) or "data" not in batch or label_key not in batch:
        raise DataError(f"{where}: not a CIFAR batch (missing `data` or `{label_key}`)")
    data, labels = batch["data"], batch[label_key]
    if not isinstance(data, Tensor) or data.dtype != torch.uint8 or data.dim() != 2 \
            or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{where}: `data` is not a uint8 array of shape (N, 3072)")
    y = labels if isinstance(labels, Tensor) else torch.tensor(list(labels))
    y = y.to(torch.int64).reshape(-1)
    if y.numel() != data.shape[0]:
        raise DataError(f"{where}: {data.shape[0]} images but {y.numel()} labels")
    return data.reshape(-1, 3, 32, 32).clone(), y


def read_cifar10(root: Path) -> tuple[Split, Split]:
    """CIFAR-10 python batches (`data_batch_1..5`, `test_batch`) from a folder or the .tar.gz."""
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    read = _cifar_source(root, "cifar-10-batches-py", "cifar-10-python.tar.gz", names)
    parts = [_cifar_batch(read(n), n, "labels") for n in names[:-1]]
    train = (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
    return train, _cifar_batch(read("test_batch"), "test_batch", "labels")


def read_cifar100(root: Path) -> tuple[Split, Split]:
    """CIFAR-100 python files (`train`, `test`, labels from `fine_labels`)."""
    read = _cifar_source(root, "cifar-100-python", "cifar-100-python.tar.gz", ["train", "test"])
    return (_cifar_batch(read("train"), "train", "fine_labels"),
            _cifar_batch(read("test"), "test", "fine_labels"))


# --------------------------------------------------------------------------------------- IDX

_IDX_TYPES: dict[int, tuple[torch.dtype, str]] = {
    0x08: (torch.uint8, "B"), 0x09: (torch.int8, "b"), 0x0B: (torch.int16, ">h"),
    0x0C: (torch.int32, ">i"), 0x0D: (torch.float32, ">f"), 0x0E: (torch.float64, ">d"),
}


def read_idx(path: Path) -> Tensor:
    """One IDX file (optionally gzip-compressed) as a tensor."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read `{path}`: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"`{path}` is not an IDX file (bad magic number)")
    dtype, fmt = _IDX_TYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"`{path}`: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    count = 1
    for d in dims:
        count *= d
    itemsize = struct.calcsize(fmt)
    if len(raw) - header != count * itemsize:
        raise DataError(f"`{path}`: expected {count * itemsize} data bytes for shape {dims}, "
                        f"found {len(raw) - header}", hint="the file is truncated or corrupt")
    body = bytearray(raw[header:])
    if itemsize > 1:  # IDX is big-endian; swap to native order
        values = struct.unpack(f">{count}{fmt[-1]}", body)
        return torch.tensor(values, dtype=dtype).reshape(dims)
    return torch.frombuffer(body, dtype=dtype).reshape(dims) if count else torch.empty(dims, dtype=dtype)


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
