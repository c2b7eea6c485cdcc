"""Upper bounds of the config schema: seeds, learning rates, threads, batch, dataset sizes, trial
counts and `run.max_memory` give located config errors, never raw ones later in torch."""
from __future__ import annotations

from pathlib import Path

import pytest

from nasc import limits
from nasc.errors import ConfigError, Diagnostics
from nasc.search.scaffold import load_search_config
from nasc.train.config import load_config


@pytest.mark.parametrize("item, key", [
    ("run.seed=" + "1" + "0" * 40, "run.seed"),
    ("run.seed=-1", "run.seed"),
    ("optimizer.lr=1e400", "optimizer.lr"),       # YAML reads it as inf
    ("optimizer.lr=.nan", "optimizer.lr"),
    ("optimizer.lr=1e300", "optimizer.lr"),
    ("run.threads=100000", "run.threads"),
    ("data.batch_size=10000000000", "data.batch_size"),
    ("data.train_size=10000000000000", "data.train_size"),
    ("trainer.epochs=100000000000", "trainer.epochs"),
    ("run.max_memory=12Q", "run.max_memory"),
])
def test_out_of_range_values_are_config_errors(item: str, key: str) -> None:
    with pytest.raises((ConfigError, Diagnostics)) as e:
        load_config(None, overrides=[item])
    err = e.value.errors[0] if isinstance(e.value, Diagnostics) else e.value
    assert err.key == key and len(err.message) < 300, err


def test_huge_integers_in_a_file_are_shown_briefly(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("optimizer:\n  lr: 1" + "0" * 400 + "\n")
    with pytest.raises(ConfigError, match=r"~10\^400") as e:
        load_config(cfg)
    assert e.value.span is not None and e.value.span.line == 2


def test_bounds_accept_real_settings() -> None:
    cfg = load_config(None, overrides=["run.seed=4294967295", "run.threads=64", "run.max_memory=64G",
                                       "data.batch_size=4096", "optimizer.lr=10"])
    assert limits.parse_size(cfg.run.max_memory) == 64 * 2**30


def test_trial_counts_are_bounded() -> None:
    with pytest.raises((ConfigError, Diagnostics), match="search.random.trials"):
        load_search_config("random", overrides=[f"search.random.trials={limits.MAX_TRIALS + 1}"])
