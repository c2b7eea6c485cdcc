"""The dataset registry: the built-in table, did-you-mean, runtime registration, and a plugin dataset
found through a real `importlib.metadata` distribution and trained on through `build_data`."""
from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from nasc.errors import ConfigError, DataError
from nasc.train import datasets
from nasc.train.data import build_data
from nasc.train.datasets import (BUILTIN_DATASETS, dataset_names, get_dataset, load_dataset,
                                 make_dataset, parse_spec, plugin_errors, register_dataset)

from train_helpers import tiny_config

CPU = torch.device("cpu")
DIST = "nasc-blobs-plugin-test"
MODULE = "nasc_blobs_plugin_test"

PLUGIN_SOURCE = '''
"""A plugin dataset for nasc's tests: three classes of flat-coloured 8x8 images."""
import torch

from nasc.train.datasets import make_dataset


def load_blobs(path, *, seed, train_size, test_size, image_size):
    """Three classes of noisy flat blobs."""
    n_train, n_test = train_size or 60, test_size or 30
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n_train + n_test) % 3
    noise = torch.randint(0, 40, (n_train + n_test, 3, 8, 8), generator=g)
    x = (y[:, None, None, None] * 90 + noise).to(torch.uint8)
    return make_dataset((x[:n_train], y[:n_train]), (x[n_train:], y[n_train:]), num_classes=3)


load_blobs.num_classes = 3
'''


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path holding a module and the `.dist-info` of a distribution that
    declares `nasc.datasets` entry points (one good, one broken, one clashing with a built-in)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{MODULE}.py").write_text(PLUGIN_SOURCE)
    info = site / f"{MODULE}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(f"""\
        [nasc.datasets]
        blobs = {MODULE}:load_blobs
        broken = {MODULE}_missing:load
        cifar10 = {MODULE}:load_blobs
        """))
    monkeypatch.syspath_prepend(str(site))
    datasets.reload_plugins()
    yield site
    datasets.reload_plugins()  # the entry points vanish with sys.path: forget them


def test_the_builtin_table_lists_every_builtin_in_order() -> None:
    names = [e.name for e in BUILTIN_DATASETS]
    assert names == ["builtin", "cifar10", "cifar100", "mnist", "fashion_mnist", "digits", "folder"]
    assert dataset_names()[:7] == names
    assert all(e.source == "built-in" for e in BUILTIN_DATASETS)
    assert [e.needs_path for e in BUILTIN_DATASETS] == [False, True, True, True, True, False, True]
    assert get_dataset("Fashion-MNIST").name == "fashion_mnist"


def test_unknown_names_get_a_did_you_mean() -> None:
    with pytest.raises(ConfigError) as exc:
        get_dataset("mnsit")
    assert exc.value.message == "unknown dataset `mnsit`" and exc.value.hint == "did you mean `mnist`?"
    assert exc.value.key == "data.dataset"
    with pytest.raises(ConfigError) as exc:
        get_dataset("zzzz")
    assert exc.value.hint is not None and exc.value.hint.startswith("use one of: builtin, cifar10")


def test_a_plugin_dataset_trains_through_build_data(plugin_site: Path) -> None:
    entry = get_dataset("blobs")
    assert entry.source == DIST and entry.num_classes == 3 and not entry.needs_path
    assert entry.description == "Three classes of noisy flat blobs."
    assert "blobs" in dataset_names()
    cfg = tiny_config(**{"data.dataset": "blobs", "data.train_size": 48, "data.test_size": 12,
                         "data.batch_size": 16})
    bundle = build_data(cfg.data, device=CPU, seed=0)
    assert bundle.num_classes == 3 and bundle.input_shape == (3, 8, 8)
    assert bundle.dataset.name == "blobs" and len(bundle.train.data) == 48 and len(bundle.test) == 12
    x, y = bundle.train.next_batch()
    assert x.shape == (16, 3, 8, 8) and x.dtype == torch.float32 and int(y.max()) <= 2
    with pytest.raises(ConfigError, match="takes no path"):
        parse_spec("blobs:./data")
    with pytest.raises(ConfigError) as exc:
        parse_spec("blob")
    assert exc.value.hint == "did you mean `blobs`?"


def test_broken_and_clashing_plugins_are_kept_out_and_reported(plugin_site: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_spec("broken")
    assert DIST in exc.value.message and "failed to load" in exc.value.message
    errors = plugin_errors()
    assert set(errors) == {"broken", "cifar10"}
    assert "already registered" in errors["cifar10"].message
    assert get_dataset("cifar10").source == "built-in"  # a plugin cannot replace a built-in
    assert "broken" not in dataset_names()


def test_runtime_registration_and_the_checks_on_what_a_loader_returns() -> None:
    def tiny(path: Path | None, *, seed: int, train_size: int | None, test_size: int | None,
             image_size: int | None) -> datasets.Dataset:
        x = torch.zeros(4, 1, 4, 4, dtype=torch.uint8)
        return make_dataset((x, torch.tensor([0, 1, 0, 1])), (x, torch.tensor([0, 1, 2, 1])),
                            num_classes=2)

    def not_a_dataset(path: Path | None, **_: object) -> object:
        return (1, 2)

    try:
        entry = register_dataset("tiny-test", tiny, needs_path=False, num_classes=2)
        assert entry.name == "tiny_test" and entry.source == __name__
        assert register_dataset("tiny_test", tiny, needs_path=False) is entry  # same loader: no-op
        with pytest.raises(ConfigError, match="already registered"):
            register_dataset("tiny_test", not_a_dataset, needs_path=False)  # type: ignore[arg-type]
        with pytest.raises(DataError, match=r"labels outside 0\.\.1"):
            load_dataset("tiny_test")
        register_dataset("bad_test", not_a_dataset, needs_path=False)  # type: ignore[arg-type]
        with pytest.raises(DataError, match="not a Dataset"):
            load_dataset("bad_test")
        with pytest.raises(ConfigError, match="not a plain name"):
            register_dataset("a:b", tiny, needs_path=False)
    finally:
        datasets._registry.pop("tiny_test", None)
        datasets._registry.pop("bad_test", None)
