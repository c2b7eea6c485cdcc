"""Data on the training device: normalisation, stratified splits, resumable batch streams.

Usage:
    from nasc.train.data import build_data
    bundle = build_data(cfg.data, device=device, seed=cfg.run.seed)          # train + test
    bundle = build_data(cfg.data, device=device, seed=0, val_fraction=0.5)   # search: train/val/test
    x, y = bundle.train.next_batch()          # float, normalised, augmented; y int64
    state = bundle.train.state_dict()         # epoch, position, augmentation RNG -> checkpoint
    bundle.train.load_state_dict(state)       # continue mid-epoch, bit-identical batches
    for x, y in eval_batches(bundle.test, 256): ...

The images stay uint8 on the device (4x less memory than float); each batch is gathered,
cropped/flipped, converted and normalised there, then cut out. A `BatchStream` is an endless
iterator over epochs: the order of epoch `e` is a permutation drawn from a generator seeded by
`(seed, e)`, so it is reproducible without storing it; the augmentation generator's state is saved.
Under DDP each rank takes every `world_size`-th index of the (padded) permutation, like
`DistributedSampler`, and batches of `batch_size // world_size`.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from nasc.errors import ConfigError
from nasc.train.augment import Augment
from nasc.train.datasets import Dataset, load_dataset
from nasc.train.synthetic import derive_seed


@dataclass(frozen=True)
class DeviceData:
    """Images (uint8, N×C×H×W) and labels (int64) on one device, with normalisation constants."""

    images: Tensor
    labels: Tensor
    mean: Tensor  # (C,) float32 on the device, in [0, 1] units
    std: Tensor
    num_classes: int

    @classmethod
    def create(cls, images: Tensor, labels: Tensor, mean: tuple[float, ...],
               std: tuple[float, ...], num_classes: int, device: torch.device) -> DeviceData:
        """Move the tensors to `device` once."""
        return cls(images=images.to(device), labels=labels.to(device),
                   mean=torch.tensor(mean, dtype=torch.float32, device=device),
                   std=torch.tensor(std, dtype=torch.float32, device=device),
                   num_classes=num_classes)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def device(self) -> torch.device:
        """Where the tensors live."""
        return self.images.device

    def subset(self, indices: Tensor) -> DeviceData:
        """The samples at `indices` (a copy on the same device)."""
        indices = indices.to(self.device)
        return DeviceData(self.images[indices], self.labels[indices], self.mean, self.std,
                          self.num_classes)

    def normalise(self, images: Tensor) -> Tensor:
        """uint8 images -> float32 `(x / 255 - mean) / std`."""
        x = images.to(torch.float32).div_(255.0)
        return x.sub_(self.mean[None, :, None, None]).div_(self.std[None, :, None, None])


def stratified_split(labels: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Split indices so each class puts `round(fraction * n_class)` samples in the first part.

    Deterministic for a seed; both parts are sorted (the stream shuffles them anyway).
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError("fraction must be in (0, 1)")
    g = torch.Generator().manual_seed(derive_seed(seed, "split"))
    labels = labels.cpu()
    first, second = [], []
    for cls in torch.unique(labels).tolist():
        idx = (labels == cls).nonzero().squeeze(1)
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        k = int(round(fraction * idx.numel()))
        first.append(idx[:k])
        second.append(idx[k:])
    return torch.cat(first).sort().values, torch.cat(second).sort().values


class BatchStream:
    """An endless, resumable stream of shuffled, augmented training batches.

    `next_batch()` returns the next batch and rolls over to the next epoch by itself (DARTS's
    validation iterator); a trainer uses `seek(epoch, position)` plus `batches_per_epoch`.
    """

    def __init__(self, data: DeviceData, batch_size: int, *, seed: int, shuffle: bool = True,
                 augment: Augment | None = None, drop_last: bool = True, rank: int = 0,
                 world_size: int = 1) -> None:
        if batch_size % world_size:
            raise ConfigError(f"batch size {batch_size} is not divisible by {world_size} processes",
                              key="data.batch_size", hint="use a multiple of the number of processes")
        self.data = data
        self.batch_size = batch_size // world_size  # per process
        self.seed = seed
        self.shuffle = shuffle
        self.augment = augment or Augment()
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.position = 0
        self._order: Tensor | None = None
        self._order_epoch = -1
        self._gen = torch.Generator(device=data.device)
        self._gen.manual_seed(derive_seed(seed, f"augment/{rank}"))
        per_rank = -(-len(data) // world_size)  # padded, as DistributedSampler does
        if drop_last:
            self.batches_per_epoch = per_rank // self.batch_size
        else:
            self.batches_per_epoch = -(-per_rank // self.batch_size)
        if self.batches_per_epoch == 0:
            raise ConfigError(f"{len(data)} samples make no batch of {self.batch_size} per process",
                              key="data.batch_size", hint="use a smaller batch or more data")

    def __len__(self) -> int:
        return self.batches_per_epoch

    def _indices(self, epoch: int) -> Tensor:
        """This rank's sample order for `epoch` (on the data device)."""
        if self._order_epoch != epoch or self._order is None:
            n = len(self.data)
            if self.shuffle:
                g = torch.Generator().manual_seed(derive_seed(self.seed, f"shuffle/{epoch}"))
                order = torch.randperm(n, generator=g)
            else:
                order = torch.arange(n)
            total = -(-n // self.world_size) * self.world_size
            if total > n:  # pad by repeating the start so every rank gets as many samples
                order = torch.cat([order, order[: total - n]])
            self._order = order[self.rank::self.world_size].to(self.data.device)
            self._order_epoch = epoch
        return self._order

    def seek(self, epoch: int, position: int = 0) -> None:
        """Continue at batch `position` of `epoch` (the augmentation generator is left as is)."""
        self.epoch, self.position = epoch, position

    def next_batch(self) -> tuple[Tensor, Tensor]:
        """The next (images, labels) batch: float32 normalised and augmented, on the device."""
        if self.position >= self.batches_per_epoch:
            self.epoch += 1
            self.position = 0
        order = self._indices(self.epoch)
        idx = order[self.position * self.batch_size:(self.position + 1) * self.batch_size]
        self.position += 1
        images = self.data.images[idx]
        if self.augment.enabled:
            images = self.augment.geometric(images, self._gen)
        x = self.data.normalise(images)
        if self.augment.cutout > 0:
            x = self.augment.erase(x, self._gen)
        return x, self.data.labels[idx]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Endless iteration (`next(iter(stream))` is `next_batch()`)."""
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict[str, Any]:
        """Plain-container state: epoch, position, augmentation generator state."""
        return {"epoch": self.epoch, "position": self.position,
                "generator": self._gen.get_state().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a `state_dict()`."""
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        # generator states are CPU byte tensors for CPU and CUDA generators alike
        self._gen.set_state(state["generator"].cpu())


def eval_batches(data: DeviceData, batch_size: int, *, rank: int = 0,
                 world_size: int = 1) -> Iterator[tuple[Tensor, Tensor]]:
    """Normalised, unaugmented batches in order; under DDP, this rank's share (no padding)."""
    idx = torch.arange(rank, len(data), world_size, device=data.device)
    for start in range(0, idx.numel(), batch_size):
        sel = idx[start:start + batch_size]
        yield data.normalise(data.images[sel]), data.labels[sel]


@dataclass
class DataBundle:
    """What a training run consumes: a train stream, an optional validation stream, the test set."""

    train: BatchStream
    val: BatchStream | None
    test: DeviceData
    dataset: Dataset

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return self.dataset.num_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images."""
        return self.dataset.input_shape


def build_data(cfg: Any, *, device: torch.device, seed: int, val_fraction: float | None = None,
               rank: int = 0, world_size: int = 1, dataset: Dataset | None = None) -> DataBundle:
    """Load `cfg.dataset` (a `DataSection`), move it to `device`, and make the streams.

    With `val_fraction` the training set is split (stratified) into a train part and a
    validation part (`1 - val_fraction` : `val_fraction`), both augmented like training data
    and independently shuffled (DARTS's search splits the CIFAR train set 50/50).
    """
    ds = dataset or load_dataset(cfg.dataset, seed=seed, train_size=cfg.train_size,
                                 test_size=cfg.test_size, image_size=cfg.image_size)
    aug = Augment(crop_padding=cfg.augment.crop_padding, flip=cfg.augment.flip,
                  cutout=cfg.augment.cutout)
    full = DeviceData.create(ds.train_images, ds.train_labels, ds.mean, ds.std, ds.num_classes, device)
    test = DeviceData.create(ds.test_images, ds.test_labels, ds.mean, ds.std, ds.num_classes, device)
    common: dict[str, Any] = dict(augment=aug, drop_last=cfg.drop_last, rank=rank, world_size=world_size)
    if val_fraction is None:
        return DataBundle(BatchStream(full, cfg.batch_size, seed=seed, **common), None, test, ds)
    val_idx, train_idx = stratified_split(ds.train_labels, val_fraction, seed)
    train = BatchStream(full.subset(train_idx), cfg.batch_size, seed=seed, **common)
    val = BatchStream(full.subset(val_idx), cfg.batch_size, seed=derive_seed(seed, "val") % (2**31),
                      **common)
    return DataBundle(train, val, test, ds)
