"""`--data digits`: a small real dataset that ships inside a registry package, read without a
download: the UCI optical handwritten digits (1,797 scans of 8x8 pixels, 10 classes, by 43
writers) that scikit-learn ships as `sklearn/datasets/data/digits.csv.gz`.

The file is found through the installed distribution's metadata (scikit-learn itself is never
imported: its import takes a second), read with a size bound, scaled from 0..16 to 0..255 and
upsampled to `image_size` (default 32) with 3 equal channels, so the DARTS spaces (3x32x32) take
it as they are. The split is fixed: the first 1,437 scans (80%) train, the last 360 test; a
search holds out part of the training scans as usual (`search.val_fraction`).
"""
from __future__ import annotations

import gzip
from pathlib import Path

import torch

from nasc.errors import DataError
from nasc.train.datasets import Dataset, make_dataset

DIST, FILE = "scikit-learn", "sklearn/datasets/data/digits.csv.gz"
ROWS, PIXELS, TRAIN = 1797, 64, 1437
MAX_BYTES = 4 << 20  # the file decompresses to about 0.3 MB


def digits_file() -> Path:
    """Where the installed scikit-learn keeps the digits file (a `DataError` when absent)."""
    from importlib import metadata

    try:
        path = Path(str(metadata.distribution(DIST).locate_file(FILE)))
    except metadata.PackageNotFoundError:
        raise DataError("the `digits` dataset is the copy scikit-learn ships, and scikit-learn is "
                        "not installed", hint='pip install "nasc[digits]" (or scikit-learn)') from None
    if not path.is_file():
        raise DataError(f"scikit-learn is installed but `{path}` is missing",
                        hint="reinstall scikit-learn")
    return path


def read_digits(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """All scans as uint8 (N, 1, 8, 8) in 0..255 and int64 labels, from the gzipped CSV."""
    with gzip.open(path, "rb") as f:
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise DataError(f"`{path}` decompresses to more than {MAX_BYTES} bytes: not the digits file")
    rows = []
    for n, line in enumerate(raw.decode("ascii", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = [int(float(v)) for v in line.split(",")]
        except ValueError:
            raise DataError(f"{path}:{n}: not a row of numbers") from None
        if len(values) != PIXELS + 1 or not all(0 <= v <= 16 for v in values[:PIXELS]) \
                or not 0 <= values[-1] <= 9:
            raise DataError(f"{path}:{n}: expected 64 pixels in 0..16 and a label in 0..9")
        rows.append(values)
    if len(rows) != ROWS:
        raise DataError(f"`{path}` has {len(rows)} scans, the digits file has {ROWS}")
    data = torch.tensor(rows, dtype=torch.int64)
    images = (data[:, :PIXELS] * 255 // 16).to(torch.uint8).reshape(-1, 1, 8, 8)
    return images, data[:, PIXELS]


def load_digits(path: Path | None, *, seed: int, train_size: int | None, test_size: int | None,
                image_size: int | None) -> Dataset:
    """The digits as a `Dataset` (3 x side x side, side = `image_size` or 32)."""
    import torch.nn.functional as F

    images, labels = read_digits(digits_file())
    side = image_size or 32
    big = F.interpolate(images.float(), size=(side, side), mode="bilinear", align_corners=False)
    big = big.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    return make_dataset((big[:TRAIN], labels[:TRAIN]), (big[TRAIN:], labels[TRAIN:]),
                        num_classes=10, class_names=[str(i) for i in range(10)],
                        train_size=train_size, test_size=test_size, name="digits")
