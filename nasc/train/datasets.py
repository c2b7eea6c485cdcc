"""Datasets by spec string: `builtin`, `cifar10:PATH`, `cifar100:PATH`, `mnist:PATH`,
`fashion_mnist:PATH`, `folder:PATH`; each loads as uint8 image tensors on the CPU.

Usage:
    from nasc.train.datasets import load_dataset
    ds = load_dataset("builtin", seed=0)                   # 5000 train / 1000 test, 3x32x32
    ds = load_dataset("cifar10:./data", train_size=5000)   # cap the sizes (first N images)
    ds.train_images (uint8 N,C,H,W), ds.train_labels (int64), ds.num_classes, ds.mean, ds.std

`mean`/`std` are per-channel statistics of the training images in [0, 1] (computed, not
hard-coded), used to normalise on the training device (`nasc.train.data`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from nasc.errors import ConfigError, DataError, did_you_mean
from nasc.train import readers
from nasc.train.synthetic import CLASS_NAMES, make_synthetic

BUILTIN_TRAIN_SIZE = 5000
BUILTIN_TEST_SIZE = 1000
_KNOWN_CLASSES = {"builtin": len(CLASS_NAMES), "cifar10": 10, "cifar100": 100, "mnist": 10,
                  "fashion_mnist": 10}
KINDS = ("builtin", "cifar10", "cifar100", "mnist", "fashion_mnist", "folder")


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec: the kind and, for file datasets, the path."""

    kind: str
    path: Path | None = None

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


@dataclass(frozen=True)
class Dataset:
    """Train and test splits as CPU tensors plus what the model and normaliser need to know."""

    name: str
    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    num_classes: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.train_images.shape[1:]
        return (int(c), int(h), int(w))


def parse_spec(text: str, key: str = "data.dataset") -> DatasetSpec:
    """Parse `kind[:path]`; `ConfigError` on an unknown kind or a missing path."""
    kind, sep, path = text.partition(":")
    kind = kind.strip().lower().replace("-", "_")
    if kind not in KINDS:
        raise ConfigError(f"unknown dataset `{text}`", key=key,
                          hint=did_you_mean(kind, KINDS) or "use one of: " + ", ".join(KINDS))
    if kind == "builtin":
        if sep and path:
            raise ConfigError("the builtin dataset takes no path", key=key,
                              hint="set sizes with data.train_size / data.test_size")
        return DatasetSpec(kind)
    if not path:
        raise ConfigError(f"dataset `{kind}` needs a path", key=key, hint=f"write `{kind}:./data`")
    return DatasetSpec(kind, Path(path).expanduser())


def channel_stats(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images scaled to [0, 1] (float64 accumulation)."""
    x = images.to(torch.float64).div_(255.0).transpose(0, 1).reshape(images.shape[1], -1)
    mean = x.mean(dim=1)
    std = x.std(dim=1).clamp_min(1e-6)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def load_dataset(spec: str | DatasetSpec, *, seed: int = 0, train_size: int | None = None,
                 test_size: int | None = None, image_size: int | None = None) -> Dataset:
    """Load (or, for `builtin`, generate) a dataset. Sizes cap file datasets (first N images)."""
    if isinstance(spec, str):
        spec = parse_spec(spec)
    classes: tuple[str, ...]
    if spec.kind == "builtin":
        train = make_synthetic(train_size or BUILTIN_TRAIN_SIZE, seed)
        # the test split is generated from a different seed: fresh images, same distribution
        test = make_synthetic(test_size or BUILTIN_TEST_SIZE, seed + 1_000_003)
        classes = CLASS_NAMES
    else:
        assert spec.path is not None
        if not spec.path.exists():
            raise ConfigError(f"dataset path `{spec.path}` does not exist", key="data.dataset",
                              hint="pass the folder holding the dataset files, or `--data builtin`")
        if spec.kind == "cifar10":
            train, test = readers.read_cifar10(spec.path)
            classes = ()
        elif spec.kind == "cifar100":
            train, test = readers.read_cifar100(spec.path)
            classes = ()
        elif spec.kind in ("mnist", "fashion_mnist"):
            sub = "MNIST" if spec.kind == "mnist" else "FashionMNIST"
            train, test = readers.read_mnist(spec.path, sub)
            classes = ()
        else:
            train, test, names = readers.read_image_folder(spec.path, image_size)
            classes = tuple(names)
        if train_size is not None:
            train = (train[0][:train_size], train[1][:train_size])
        if test_size is not None:
            test = (test[0][:test_size], test[1][:test_size])
    seen = int(max(int(train[1].max()), int(test[1].max())) + 1)
    num_classes = _KNOWN_CLASSES.get(spec.kind, len(classes) or seen)
    if seen > num_classes or int(min(int(train[1].min()), int(test[1].min()))) < 0:
        raise DataError(f"{spec}: labels outside 0..{num_classes - 1}")
    if not classes:
        classes = tuple(str(i) for i in range(num_classes))
    mean, std = channel_stats(train[0])
    return Dataset(name=str(spec), train_images=train[0], train_labels=train[1],
                   test_images=test[0], test_labels=test[1], num_classes=num_classes,
                   class_names=classes, mean=mean, std=std)
