"""Datasets by name: a registry of loaders (built-in and plugins) and spec strings `NAME[:PATH]`.

Usage:
    from nasc.train.datasets import load_dataset, dataset_names, get_dataset
    ds = load_dataset("builtin", seed=0)                   # 5000 train / 1000 test, 3x32x32
    ds = load_dataset("cifar10:./data", train_size=5000)   # cap the sizes (first N images)
    ds.train_images (uint8 N,C,H,W), ds.train_labels (int64), ds.num_classes, ds.mean, ds.std
    dataset_names()                 # ["builtin", "cifar10", ..., plugins' names]
    get_dataset("cifar10").source   # "built-in", or the distribution of the plugin that adds it

The built-in datasets are the table `BUILTIN_DATASETS` below: `builtin` (generated, no path),
`cifar10`, `cifar100`, `mnist`, `fashion_mnist`, `folder` (local files under PATH), `digits` (real
scans that a registry package ships, no download). More come from
`register_dataset(...)` or from plugins: entry points of group `nasc.datasets`, loaded once, the
first time a name is asked for that is not built in (or when all names are listed).

A loader (the `DatasetLoader` protocol) is called as
`loader(path, *, seed, train_size, test_size, image_size)`: `path` is the `Path` after the colon
(None for a dataset that takes none), `seed` seeds anything generated, the sizes are caps (or
generation counts) that may be None, `image_size` is a requested square side (or None). It returns
a `Dataset`: uint8 N×C×H×W images and int64 labels in 0..num_classes-1 for both splits, most
easily through `make_dataset`, which caps the sizes and computes the channel statistics:

    # my_pkg/data.py, with `[project.entry-points."nasc.datasets"] blobs = "my_pkg.data:load_blobs"`
    from nasc.train.datasets import make_dataset
    def load_blobs(path, *, seed, train_size, test_size, image_size):
        x, y = my_blobs(seed, (train_size or 500) + (test_size or 100))   # uint8 NCHW, int64
        return make_dataset((x[:-100], y[:-100]), (x[-100:], y[-100:]), num_classes=3)
    load_blobs.num_classes = 3          # optional attributes: needs_path (default False), description

`mean`/`std` are per-channel statistics of the training images in [0, 1] (computed, not
hard-coded), used to normalise on the training device (`nasc.train.data`).
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor

from nasc import limits
from nasc.errors import ConfigError, DataError, NascError, did_you_mean
from nasc.train import readers
from nasc.train.synthetic import CLASS_NAMES, make_synthetic

BUILTIN_TRAIN_SIZE = 5000
BUILTIN_TEST_SIZE = 1000
PLUGIN_GROUP = "nasc.datasets"
_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")

Split = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec: the registered name (`kind`) and, for file datasets, the path."""

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


class DatasetLoader(Protocol):
    """What a registered dataset provides: see the module docstring."""

    def __call__(self, path: Path | None, *, seed: int, train_size: int | None,
                 test_size: int | None, image_size: int | None) -> Dataset: ...


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset: its loader, whether it needs a path, its class count if fixed, and
    where it comes from (`built-in`, a plugin's distribution name, or the registering module)."""

    name: str
    loader: DatasetLoader
    needs_path: bool
    num_classes: int | None = None
    description: str = ""
    source: str = "built-in"


def channel_stats(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images scaled to [0, 1] (float64 accumulation)."""
    x = images.to(torch.float64).div_(255.0).transpose(0, 1).reshape(images.shape[1], -1)
    mean = x.mean(dim=1)
    std = x.std(dim=1).clamp_min(1e-6)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def make_dataset(train: Split, test: Split, *, num_classes: int | None = None,
                 class_names: Sequence[str] = (), train_size: int | None = None,
                 test_size: int | None = None, name: str = "") -> Dataset:
    """A `Dataset` from (uint8 N×C×H×W images, int64 labels) splits: each split is cut to its
    size cap (first N), the class count defaults to `len(class_names)`, else the largest label + 1,
    and the channel statistics are computed from the training images."""
    if train_size is not None:
        train = (train[0][:train_size], train[1][:train_size])
    if test_size is not None:
        test = (test[0][:test_size], test[1][:test_size])
    seen = int(max(int(train[1].max()), int(test[1].max())) + 1) if len(train[1]) and len(test[1]) else 0
    n = num_classes or len(class_names) or seen
    names = tuple(class_names) or tuple(str(i) for i in range(n))
    mean, std = channel_stats(train[0])
    return Dataset(name=name, train_images=train[0], train_labels=train[1], test_images=test[0],
                   test_labels=test[1], num_classes=n, class_names=names, mean=mean, std=std)


# ------------------------------------------------------------------------------ built-in loaders

def _builtin(path: Path | None, *, seed: int, train_size: int | None, test_size: int | None,
             image_size: int | None) -> Dataset:
    n = (train_size or BUILTIN_TRAIN_SIZE) + (test_size or BUILTIN_TEST_SIZE)
    # generation works in float32: refuse sizes the machine cannot hold before generating any
    limits.check_memory(n * 3 * 32 * 32 * 4, f"the built-in dataset ({n:,} images)", key="data.train_size",
                        error=ConfigError)
    train = make_synthetic(train_size or BUILTIN_TRAIN_SIZE, seed)
    # the test split is generated from a different seed: fresh images, same distribution
    test = make_synthetic(test_size or BUILTIN_TEST_SIZE, seed + 1_000_003)
    return make_dataset(train, test, num_classes=len(CLASS_NAMES), class_names=CLASS_NAMES)


def _cifar10(path: Path | None, *, seed: int, train_size: int | None, test_size: int | None,
             image_size: int | None) -> Dataset:
    assert path is not None
    train, test = readers.read_cifar10(path)
    return make_dataset(train, test, num_classes=10, train_size=train_size, test_size=test_size)


def _cifar100(path: Path | None, *, seed: int, train_size: int | None, test_size: int | None,
              image_size: int | None) -> Dataset:
    assert path is not None
    train, test = readers.read_cifar100(path)
    return make_dataset(train, test, num_classes=100, train_size=train_size, test_size=test_size)


def _mnist(path: Path | None, *, seed: int, train_size: int | None, test_size: int | None,
           image_size: int | None) -> Dataset:
    assert path is not None
    train, test = readers.read_mnist(path, "MNIST")
    return make_dataset(train, test, num_classes=10, train_size=train_size, test_size=test_size)


def _fashion_mnist(path: Path | None, *, seed: int, train_size: int | None,
                   test_size: int | None, image_size: int | None) -> Dataset:
    assert path is not None
    train, test = readers.read_mnist(path, "FashionMNIST")
    return make_dataset(train, test, num_classes=10, train_size=train_size, test_size=test_size)


def _folder(path: Path | None, *, seed: int, train_size: int | None, test_size: int | None,
            image_size: int | None) -> Dataset:
    assert path is not None
    train, test, names = readers.read_image_folder(path, image_size)
    return make_dataset(train, test, class_names=names, train_size=train_size, test_size=test_size)


def _digits(path: Path | None, *, seed: int, train_size: int | None, test_size: int | None,
            image_size: int | None) -> Dataset:
    from nasc.train.digits import load_digits  # its module imports this one

    return load_digits(path, seed=seed, train_size=train_size, test_size=test_size,
                       image_size=image_size)


#: The built-in datasets, in the order `dataset_names()` lists them.
BUILTIN_DATASETS: tuple[DatasetEntry, ...] = (
    DatasetEntry("builtin", _builtin, needs_path=False, num_classes=len(CLASS_NAMES),
                 description="seeded synthetic 3x32x32 images, no download"),
    DatasetEntry("cifar10", _cifar10, needs_path=True, num_classes=10,
                 description="CIFAR-10 python pickles (cifar-10-batches-py or the .tar.gz)"),
    DatasetEntry("cifar100", _cifar100, needs_path=True, num_classes=100,
                 description="CIFAR-100 python pickles (fine labels)"),
    DatasetEntry("mnist", _mnist, needs_path=True, num_classes=10,
                 description="MNIST IDX files (optionally gzipped)"),
    DatasetEntry("fashion_mnist", _fashion_mnist, needs_path=True, num_classes=10,
                 description="Fashion-MNIST IDX files (optionally gzipped)"),
    DatasetEntry("digits", _digits, needs_path=False, num_classes=10,
                 description="real handwritten digits (1,797 8x8 scans upsampled to 3x32x32) that "
                             "scikit-learn ships: no download"),
    DatasetEntry("folder", _folder, needs_path=True, num_classes=None,
                 description="an image folder per class (train/ and test/ or val/; torchvision)"),
)

# ------------------------------------------------------------------------------ the registry

_registry: dict[str, DatasetEntry] = {e.name: e for e in BUILTIN_DATASETS}
_plugins_loaded = False
_plugin_errors: dict[str, NascError] = {}  # plugin name -> why it was not registered
_plugin_names: set[str] = set()  # names registered from entry points (forgotten by reload_plugins)


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register_dataset(name: str, loader: DatasetLoader, *, needs_path: bool,
                     num_classes: int | None = None, description: str = "",
                     source: str | None = None) -> DatasetEntry:
    """Register `loader` under `name` (case-insensitive, `-` = `_`). `source` records where it
    comes from (default: the loader's module). Registering the same loader again is a no-op;
    another loader under a taken name is a `ConfigError`."""
    key = _normalise(name)
    origin = source or getattr(loader, "__module__", None) or "runtime"
    if not _NAME.match(key):
        raise ConfigError(f"dataset name `{name}` is not a plain name", key=f"{PLUGIN_GROUP}:{name}",
                          hint="use letters, digits and `_` (no `:`), starting with a letter")
    if not callable(loader):
        raise ConfigError(f"dataset `{key}` from {origin}: the loader is not callable",
                          key=f"{PLUGIN_GROUP}:{name}",
                          hint="register a function `loader(path, *, seed, train_size, test_size, "
                               "image_size) -> Dataset`")
    old = _registry.get(key)
    if old is not None:
        if old.loader is loader:
            return old
        raise ConfigError(f"dataset `{key}` from {origin} is already registered (from {old.source})",
                          key=f"{PLUGIN_GROUP}:{name}", hint="pick another name")
    entry = DatasetEntry(key, loader, needs_path=bool(needs_path), num_classes=num_classes,
                         description=description, source=origin)
    _registry[key] = entry
    return entry


def _load_plugins() -> None:
    """Register the `nasc.datasets` entry points once; a plugin that fails to load or clashes
    with a taken name is kept out and its error kept in `plugin_errors()`."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from nasc.plugins import entry_points_of

    for ep in entry_points_of(PLUGIN_GROUP):
        origin = ep.distribution or "an unknown package"
        try:
            loader = ep.load()
            doc = (getattr(loader, "__doc__", None) or "").strip().splitlines()
            register_dataset(ep.name, loader, needs_path=bool(getattr(loader, "needs_path", False)),
                             num_classes=getattr(loader, "num_classes", None),
                             description=str(getattr(loader, "description", "") or (doc[0] if doc else "")),
                             source=origin)
            _plugin_names.add(_normalise(ep.name))
        except NascError as exc:
            _plugin_errors[_normalise(ep.name)] = exc


def reload_plugins() -> None:
    """Forget the registered plugin datasets and read the entry points again on next use."""
    global _plugins_loaded
    for key in _plugin_names:
        _registry.pop(key, None)
    _plugin_names.clear()
    _plugin_errors.clear()
    _plugins_loaded = False


def _find(name: str) -> DatasetEntry | None:
    """The entry of `name`, loading the plugins when it is not built in; re-raises the error of a
    plugin of that name that failed to load."""
    norm = _normalise(name)
    if norm not in _registry:
        _load_plugins()
    if norm in _registry:
        return _registry[norm]
    if norm in _plugin_errors:
        raise _plugin_errors[norm]
    return None


def _unknown(shown: str, name: str, key: str) -> ConfigError:
    names = dataset_names()
    return ConfigError(f"unknown dataset `{shown}`", key=key,
                       hint=did_you_mean(_normalise(name), names) or "use one of: " + ", ".join(names))


def get_dataset(name: str, *, key: str = "data.dataset") -> DatasetEntry:
    """The registered dataset `name` (plugins are loaded if it is not built in); an unknown name
    is a `ConfigError` at config key `key` with a did-you-mean hint."""
    entry = _find(name)
    if entry is None:
        raise _unknown(name, name, key)
    return entry


def dataset_names() -> list[str]:
    """Every registered dataset name: the built-ins in table order, then the others sorted."""
    _load_plugins()
    builtin = [e.name for e in BUILTIN_DATASETS]
    return builtin + sorted(k for k in _registry if k not in builtin)


def dataset_entries() -> list[DatasetEntry]:
    """Every registered dataset (in `dataset_names()` order), with where it comes from."""
    return [_registry[n] for n in dataset_names()]


def plugin_errors() -> dict[str, NascError]:
    """Plugin datasets that could not be registered (name -> error), for `nasc plugins`."""
    _load_plugins()
    return dict(_plugin_errors)


# ------------------------------------------------------------------------------ specs and loading

def parse_spec(text: str, key: str = "data.dataset") -> DatasetSpec:
    """Parse `NAME[:PATH]`; `ConfigError` on an unknown name, a missing or an unexpected path."""
    name, sep, path = text.partition(":")
    entry = _find(name)
    if entry is None:
        raise _unknown(text, name, key)  # quote the whole spec, as typed
    if not entry.needs_path:
        if sep and path:
            raise ConfigError(f"the {entry.name} dataset takes no path", key=key,
                              hint="set sizes with data.train_size / data.test_size")
        return DatasetSpec(entry.name)
    if not path:
        raise ConfigError(f"dataset `{entry.name}` needs a path", key=key,
                          hint=f"write `{entry.name}:./data`")
    return DatasetSpec(entry.name, Path(path).expanduser())


def load_dataset(spec: str | DatasetSpec, *, seed: int = 0, train_size: int | None = None,
                 test_size: int | None = None, image_size: int | None = None) -> Dataset:
    """Load (or, for `builtin`, generate) a dataset. Sizes cap file datasets (first N images).

    What the loader returns is checked (a `Dataset`, uint8 N×C×H×W images, labels within the
    classes) so a faulty plugin is a `DataError` naming it, not a crash in training.
    """
    if isinstance(spec, str):
        spec = parse_spec(spec)
    entry = get_dataset(spec.kind)
    if spec.path is not None and not spec.path.exists():
        raise ConfigError(f"dataset path `{spec.path}` does not exist", key="data.dataset",
                          hint="pass the folder holding the dataset files, or `--data builtin`")
    ds = entry.loader(spec.path, seed=seed, train_size=train_size, test_size=test_size,
                      image_size=image_size)
    who = f"{spec}" if entry.source == "built-in" else f"{spec} (from {entry.source})"
    if not isinstance(ds, Dataset):
        raise DataError(f"{who}: the loader returned {type(ds).__name__}, not a Dataset",
                        hint="build the result with nasc.train.datasets.make_dataset")
    _check(ds, entry, who)
    return dataclasses.replace(ds, name=str(spec))


def _check(ds: Dataset, entry: DatasetEntry, who: str) -> None:
    """Raise `DataError` when a loaded dataset is not what training expects."""
    for part, images, labels in (("train", ds.train_images, ds.train_labels),
                                 ("test", ds.test_images, ds.test_labels)):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise DataError(f"{who}: {part} images must be uint8 N×C×H×W, got {images.dtype} "
                            f"of shape {tuple(images.shape)}")
        if labels.dim() != 1 or len(labels) != len(images) or len(labels) == 0:
            raise DataError(f"{who}: the {part} split needs one label per image and at least one "
                            f"image (got {len(images)} images, labels of shape {tuple(labels.shape)})")
    if entry.num_classes is not None and ds.num_classes != entry.num_classes:
        raise DataError(f"{who}: {ds.num_classes} classes, but the dataset is registered with "
                        f"{entry.num_classes}")
    low = int(min(int(ds.train_labels.min()), int(ds.test_labels.min())))
    high = int(max(int(ds.train_labels.max()), int(ds.test_labels.max())))
    if low < 0 or high >= ds.num_classes:
        raise DataError(f"{who}: labels outside 0..{ds.num_classes - 1}")
