"""`--data digits`: the real handwritten digits scikit-learn ships, read from its file."""
from __future__ import annotations

import gzip
from importlib import metadata
from pathlib import Path

import pytest
import torch

from nasc.errors import DataError
from nasc.train import digits
from nasc.train.datasets import get_dataset, load_dataset


def test_digits_load_as_3x32x32_with_the_fixed_split() -> None:
    ds = load_dataset("digits", seed=0)
    assert ds.train_images.shape == (1437, 3, 32, 32) and ds.test_images.shape == (360, 3, 32, 32)
    assert ds.train_images.dtype == torch.uint8 and ds.num_classes == 10
    # every class is there, and the three channels are one grey image
    assert set(ds.train_labels.tolist()) == set(range(10)) == set(ds.test_labels.tolist())
    assert torch.equal(ds.train_images[:, 0], ds.train_images[:, 2])
    # the scan's 8x8 pixels survive the upsampling: nearest-sampled back, they are the scan
    raw, labels = digits.read_digits(digits.digits_file())
    assert torch.equal(labels[:1437], ds.train_labels)
    small = load_dataset("digits", seed=0, image_size=8)
    assert torch.equal(small.train_images[:, :1], raw[:1437])
    assert get_dataset("digits").num_classes == 10


def test_size_caps_apply() -> None:
    ds = load_dataset("digits", seed=0, train_size=100, test_size=20)
    assert len(ds.train_labels) == 100 and len(ds.test_labels) == 20


def test_a_corrupt_file_is_a_located_data_error(tmp_path: Path) -> None:
    bad = tmp_path / "digits.csv.gz"
    with gzip.open(bad, "wt") as f:
        f.write("0," * 64 + "3\n" + "1,2,x\n")
    with pytest.raises(DataError, match=r"digits.csv.gz:2: not a row of numbers"):
        digits.read_digits(bad)
    with gzip.open(bad, "wt") as f:
        f.write("0," * 64 + "3\n")
    with pytest.raises(DataError, match="has 1 scans"):
        digits.read_digits(bad)
    with gzip.open(bad, "wb") as f:
        f.write(b"0" * (digits.MAX_BYTES + 10))
    with pytest.raises(DataError, match="decompresses to more than"):
        digits.read_digits(bad)


def test_without_scikit_learn_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    with pytest.raises(DataError) as e:
        load_dataset("digits", seed=0)
    assert "scikit-learn" in e.value.message and "nasc[digits]" in (e.value.hint or "")
