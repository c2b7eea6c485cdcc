"""On-device augmentation (against per-sample reference loops), splits and resumable batch streams."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nasc.errors import ConfigError
from nasc.train.augment import Augment, cutout, random_crop, random_flip
from nasc.train.data import BatchStream, DeviceData, build_data, eval_batches, stratified_split
from nasc.train.synthetic import make_synthetic

from train_helpers import tiny_config


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_random_crop_matches_a_per_sample_loop() -> None:
    x = torch.arange(5 * 2 * 6 * 7, dtype=torch.int64).reshape(5, 2, 6, 7)
    out = random_crop(x, 3, _gen(1))
    g = _gen(1)
    oy = torch.randint(0, 7, (5,), generator=g)
    ox = torch.randint(0, 7, (5,), generator=g)
    padded = F.pad(x, (3, 3, 3, 3))
    for i in range(5):
        assert torch.equal(out[i], padded[i, :, oy[i]:oy[i] + 6, ox[i]:ox[i] + 7])
    assert len({(int(a), int(b)) for a, b in zip(oy, ox)}) > 1  # offsets differ per sample


def test_crop_of_uint8_pads_with_zero() -> None:
    x = torch.full((64, 1, 4, 4), 200, dtype=torch.uint8)
    out = random_crop(x, 2, _gen(0))
    assert out.dtype == torch.uint8 and set(out.unique().tolist()) == {0, 200}


def test_flip_and_cutout_match_reference() -> None:
    x = torch.randn(8, 3, 10, 10)
    flipped = random_flip(x, _gen(2))
    which = torch.rand(8, generator=_gen(2)) < 0.5
    for i in range(8):
        assert torch.equal(flipped[i], x[i].flip(2) if which[i] else x[i])
    cut = cutout(x, 4, _gen(3))
    g = _gen(3)
    cy, cx = torch.randint(0, 10, (8,), generator=g), torch.randint(0, 10, (8,), generator=g)
    for i in range(8):  # the DARTS Cutout: clip the square at the border
        ref = x[i].clone()
        y1, y2 = max(int(cy[i]) - 2, 0), min(int(cy[i]) + 2, 10)
        x1, x2 = max(int(cx[i]) - 2, 0), min(int(cx[i]) + 2, 10)
        ref[:, y1:y2, x1:x2] = 0
        assert torch.equal(cut[i], ref)


def test_augment_is_deterministic_under_a_generator() -> None:
    aug = Augment(crop_padding=4, flip=True, cutout=8)
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    a = aug.erase(aug.geometric(x, _gen(7)).float(), _gen(8))
    b = aug.erase(aug.geometric(x, _gen(7)).float(), _gen(8))
    assert torch.equal(a, b) and not torch.equal(a, x.float())


def test_stratified_split_counts_disjoint_deterministic() -> None:
    labels = torch.tensor([0] * 10 + [1] * 6 + [2] * 3)
    a, b = stratified_split(labels, 0.5, seed=1)
    assert [int((labels[a] == c).sum()) for c in range(3)] == [5, 3, 2]  # round(1.5) == 2
    assert sorted(torch.cat([a, b]).tolist()) == list(range(19))
    a2, _ = stratified_split(labels, 0.5, seed=1)
    a3, _ = stratified_split(labels, 0.5, seed=2)
    assert torch.equal(a, a2) and not torch.equal(a, a3)


def _data(n: int = 50) -> DeviceData:
    x, y = make_synthetic(n, seed=0)
    return DeviceData.create(x, y, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 10, torch.device("cpu"))


def test_normalise_is_exact() -> None:
    d = _data(4)
    got = d.normalise(d.images)
    assert torch.allclose(got, (d.images.float() / 255 - 0.5) / 0.25)


def test_stream_visits_every_sample_once_per_epoch() -> None:
    d = _data(50)
    s = BatchStream(d, 10, seed=0, drop_last=False)
    seen = []
    for _ in range(5):
        x, y = s.next_batch()
        seen.append(x)
    epoch0 = torch.cat(seen)
    assert epoch0.shape[0] == 50
    # unaugmented: the batch images are the dataset's, in some order, each exactly once
    ref = d.normalise(d.images)
    match = (epoch0[:, None] == ref[None]).flatten(2).all(2).nonzero()[:, 1]
    assert sorted(match.tolist()) == list(range(50))
    x, _ = s.next_batch()  # rolls over into epoch 1, a different order
    assert s.epoch == 1 and s.position == 1 and not torch.equal(x, epoch0[:10])


def test_stream_state_resumes_mid_epoch_bit_identically() -> None:
    d = _data(60)
    aug = Augment(crop_padding=4, flip=True, cutout=8)
    s = BatchStream(d, 8, seed=3, augment=aug)
    for _ in range(4):
        s.next_batch()
    state = s.state_dict()
    expected = [s.next_batch() for _ in range(6)]  # crosses into epoch 1
    s2 = BatchStream(d, 8, seed=3, augment=aug)
    s2.load_state_dict(state)
    for (x, y), (ex, ey) in zip([s2.next_batch() for _ in range(6)], expected):
        assert torch.equal(x, ex) and torch.equal(y, ey)


def test_stream_shards_like_distributed_sampler() -> None:
    d = DeviceData.create(torch.zeros(11, 1, 2, 2, dtype=torch.uint8), torch.arange(11), (0.0,), (1.0,), 11,
                          torch.device("cpu"))
    labels = []
    for rank in range(2):
        s = BatchStream(d, 4, seed=0, rank=rank, world_size=2, drop_last=False)
        assert s.batch_size == 2 and len(s) == 3
        labels.append(torch.cat([s.next_batch()[1] for _ in range(3)]))
    both = torch.cat(labels).tolist()
    assert len(both) == 12 and set(both) == set(range(11))  # padded by one repeated sample
    with pytest.raises(ConfigError, match="not divisible by 2"):
        BatchStream(d, 5, seed=0, world_size=2)


def test_eval_batches_cover_the_set_once_across_ranks() -> None:
    d = _data(23)
    got = [torch.cat([y for _, y in eval_batches(d, 5, rank=r, world_size=3)]) for r in range(3)]
    assert sorted(torch.cat(got).tolist()) == sorted(d.labels.tolist())
    assert sum(len(g) for g in got) == 23


def test_build_data_with_validation_split() -> None:
    cfg = tiny_config(**{"data.train_size": 100, "data.batch_size": 10})
    bundle = build_data(cfg.data, device=torch.device("cpu"), seed=0, val_fraction=0.5)
    assert bundle.val is not None and len(bundle.train.data) == 50 and len(bundle.val.data) == 50
    assert torch.bincount(bundle.val.data.labels).tolist() == [5] * 10
    assert len(bundle.test) == 50 and bundle.num_classes == 10 and bundle.input_shape == (3, 32, 32)
    x, y = bundle.val.next_batch()
    assert x.dtype == torch.float32 and x.shape == (10, 3, 32, 32)
