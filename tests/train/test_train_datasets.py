"""The built-in dataset, dataset specs and the file readers (CIFAR pickles, IDX, folders)."""
from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from nasc.errors import ConfigError, DataError
from nasc.train.datasets import channel_stats, load_dataset, parse_spec
from nasc.train.readers import read_idx, safe_unpickle
from nasc.train.synthetic import CLASS_NAMES, make_synthetic


def test_synthetic_is_deterministic_balanced_uint8() -> None:
    x1, y1 = make_synthetic(300, seed=3)
    x2, y2 = make_synthetic(300, seed=3)
    x3, _ = make_synthetic(300, seed=4)
    assert x1.dtype == torch.uint8 and x1.shape == (300, 3, 32, 32) and y1.dtype == torch.int64
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    assert torch.bincount(y1, minlength=10).tolist() == [30] * 10
    assert len(CLASS_NAMES) == 10
    # images use the whole range and are not constant
    assert int(x1.min()) == 0 and int(x1.max()) == 255 and x1.float().std() > 30


def test_synthetic_chunks_do_not_change_the_first_images() -> None:
    # generation is chunked at 1024; a larger set begins with the same first chunk's labels
    big_x, big_y = make_synthetic(1100, seed=0)
    assert big_x.shape[0] == 1100 and torch.bincount(big_y).tolist() == [110] * 10


def test_builtin_dataset_splits_differ_and_stats_are_computed() -> None:
    ds = load_dataset("builtin", seed=0, train_size=200, test_size=50)
    assert ds.train_images.shape == (200, 3, 32, 32) and ds.test_images.shape == (50, 3, 32, 32)
    assert ds.num_classes == 10 and ds.input_shape == (3, 32, 32)
    assert not torch.equal(ds.train_images[:50], ds.test_images)
    mean, std = channel_stats(ds.train_images)
    assert ds.mean == mean and len(mean) == 3
    expected = ds.train_images[:, 0].double().div(255).mean().item()
    assert mean[0] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("spec,message", [
    ("cifar1O:./d", "unknown dataset `cifar1O:./d`"),
    ("cifar10", "dataset `cifar10` needs a path"),
    ("builtin:x", "the builtin dataset takes no path"),
])
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_spec(spec)
    assert exc.value.message == message and exc.value.key == "data.dataset"


def test_spec_hint_and_parse() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_spec("cifar100x:.")
    assert exc.value.hint == "did you mean `cifar100`?"
    assert parse_spec("Fashion-MNIST:/d").kind == "fashion_mnist"
    assert str(parse_spec("cifar10:data")) == "cifar10:data"


def test_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_dataset(f"cifar10:{tmp_path / 'nope'}")


# ------------------------------------------------------------------------------------ CIFAR

def _cifar_arrays(n: int, seed: int, classes: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), [int(v) for v in rng.integers(0, classes, n)]


def _write_cifar10(root: Path, protocol: int) -> dict[str, tuple[np.ndarray, list[int]]]:
    root.mkdir(parents=True, exist_ok=True)
    batches = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data, labels = _cifar_arrays(4, i, 10)
        batches[name] = (data, labels)
        with open(root / name, "wb") as f:  # the real files' keys are bytes (pickled by Python 2)
            pickle.dump({b"batch_label": b"x", b"data": data, b"labels": labels,
                         b"filenames": [b"a.png"] * 4}, f, protocol=protocol)
    return batches


@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar10_batches_load_exactly(tmp_path: Path, protocol: int) -> None:
    batches = _write_cifar10(tmp_path / "cifar-10-batches-py", protocol)
    ds = load_dataset(f"cifar10:{tmp_path}")
    assert ds.train_images.shape == (20, 3, 32, 32) and ds.test_images.shape == (4, 3, 32, 32)
    want = np.concatenate([batches[f"data_batch_{k}"][0] for k in range(1, 6)]).reshape(-1, 3, 32, 32)
    assert torch.equal(ds.train_images, torch.from_numpy(want))
    assert ds.test_labels.tolist() == batches["test_batch"][1]
    assert ds.num_classes == 10


def test_cifar10_from_the_tar_archive(tmp_path: Path) -> None:
    batches = _write_cifar10(tmp_path / "src" / "cifar-10-batches-py", 2)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    ds = load_dataset(f"cifar10:{tmp_path}", train_size=6)
    assert ds.train_images.shape[0] == 6
    assert ds.train_labels.tolist() == batches["data_batch_1"][1] + batches["data_batch_2"][1][:2]


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    for name, seed in (("train", 0), ("test", 1)):
        data, fine = _cifar_arrays(5, seed, 100)
        with open(root / name, "wb") as f:
            pickle.dump({b"data": data, b"fine_labels": fine, b"coarse_labels": [0] * 5}, f, protocol=2)
    ds = load_dataset(f"cifar100:{tmp_path}")
    assert ds.num_classes == 100 and ds.train_labels.tolist() == _cifar_arrays(5, 0, 100)[1]


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os
        return (os.system, ("echo pwned",))


def test_unsafe_pickle_is_refused(tmp_path: Path) -> None:
    raw = pickle.dumps({b"data": _Evil(), b"labels": []}, protocol=2)
    with pytest.raises(DataError) as exc:
        safe_unpickle(raw, "data_batch_1")
    assert "refusing to load" in exc.value.message and ("posix.system" in exc.value.message
                                                        or "os.system" in exc.value.message)


def test_truncated_cifar_batch(tmp_path: Path) -> None:
    _write_cifar10(tmp_path, 2)
    raw = (tmp_path / "data_batch_3").read_bytes()
    (tmp_path / "data_batch_3").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError) as exc:
        load_dataset(f"cifar10:{tmp_path}")
    assert exc.value.message.startswith("data_batch_3: not a readable pickle")


def test_missing_cifar_files(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        load_dataset(f"cifar10:{tmp_path}")
    assert "CIFAR files not found" in exc.value.message and "cifar-10-python.tar.gz" in exc.value.hint


# -------------------------------------------------------------------------------------- IDX

def _idx_bytes(array: np.ndarray) -> bytes:
    code = {np.uint8: 0x08, np.int32: 0x0C}[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_files(tmp_path: Path, compress: bool) -> None:
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, 6, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3, dtype=np.uint8)}
    raw_dir = tmp_path / "FashionMNIST" / "raw"
    raw_dir.mkdir(parents=True)
    for name, arr in arrays.items():
        data = _idx_bytes(arr)
        (raw_dir / (name + (".gz" if compress else ""))).write_bytes(gzip.compress(data) if compress else data)
    ds = load_dataset(f"fashion_mnist:{tmp_path}")
    assert ds.train_images.shape == (6, 1, 28, 28) and ds.input_shape == (1, 28, 28)
    assert torch.equal(ds.train_images[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert ds.test_labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()


def test_idx_big_endian_ints_and_errors(tmp_path: Path) -> None:
    arr = np.array([[1, -2, 70000]], dtype=np.int32)
    (tmp_path / "a").write_bytes(_idx_bytes(arr))
    assert read_idx(tmp_path / "a").tolist() == [[1, -2, 70000]]
    (tmp_path / "b").write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(DataError, match="bad magic number"):
        read_idx(tmp_path / "b")
    (tmp_path / "c").write_bytes(_idx_bytes(arr)[:-2])
    with pytest.raises(DataError, match="expected 12 data bytes"):
        read_idx(tmp_path / "c")


def test_folder_dataset_needs_torchvision(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(DataError) as exc:
            load_dataset(f"folder:{tmp_path}")
        assert "torchvision" in exc.value.message and "pip install torchvision" in exc.value.hint
    else:
        pytest.skip("torchvision is installed; the error path is not reachable")
