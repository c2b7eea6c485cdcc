"""Experiment configs: include inheritance, full overlay, overrides, schema errors with locations."""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from nasc.errors import ConfigError, Diagnostics
from nasc.resources import configs_dir
from nasc.train import config as C
from nasc.train.config import (OptimizerSection, load_config, parse_override, register_section,
                               resolve_config, validate_config)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_include_merges_deeply_and_the_including_file_wins(tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", "trainer:\n  epochs: 7\n  grad_clip: 1.0\noptimizer:\n  lr: 0.1\n")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "exp.yaml", "include: ../base.yaml\ntrainer:\n  epochs: 9\n")
    cfg = load_config(tmp_path / "sub" / "exp.yaml")
    assert cfg.trainer.epochs == 9 and cfg.trainer.grad_clip == 1.0 and cfg.optimizer.lr == 0.1
    assert cfg.trainer.aux_weight is None  # schema default: the model's own weight


def test_include_list_applies_in_order(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "optimizer: {lr: 0.1, momentum: 0.5}\n")
    write(tmp_path / "b.yaml", "optimizer: {lr: 0.2}\n")
    write(tmp_path / "c.yaml", "include: [a.yaml, b.yaml]\n")
    cfg = load_config(tmp_path / "c.yaml")
    assert (cfg.optimizer.lr, cfg.optimizer.momentum) == (0.2, 0.5)


def test_include_cycle_names_the_chain_and_the_include_line(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "include: b.yaml\n")
    write(tmp_path / "b.yaml", "trainer:\n  epochs: 1\ninclude: a.yaml\n")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "a.yaml")
    assert exc.value.message == "include cycle: a.yaml -> b.yaml -> a.yaml"
    assert exc.value.span is not None
    assert (Path(exc.value.span.file).name, exc.value.span.line, exc.value.span.col) == ("b.yaml", 3, 1)


def test_missing_include_points_at_the_include(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "include: nope.yaml\n")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "a.yaml")
    assert "nope.yaml" in exc.value.message and exc.value.span.line == 1


def test_unknown_key_has_dotted_path_location_and_did_you_mean(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", "trainer:\n  epochs: 3\n  grad_clipp: 2.0\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    err = exc.value
    assert err.key == "trainer.grad_clipp" and err.message == "unknown key `trainer.grad_clipp`"
    assert (err.span.line, err.span.col) == (3, 3)
    assert err.hint == "did you mean `grad_clip`?"


def test_unknown_section_and_bad_value_are_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", "trainr:\n  epochs: 3\noptimizer:\n  lr: fast\n")
    with pytest.raises(Diagnostics) as exc:
        load_config(path)
    errs = exc.value.errors
    assert [(e.key, e.span.line, e.span.col) for e in errs] == [("trainr", 1, 1), ("optimizer.lr", 4, 3)]
    assert errs[0].hint == "did you mean `trainer`?"
    assert "valid number" in errs[1].message and "'fast'" in errs[1].message


def test_yaml_syntax_error_has_a_location(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", "trainer:\n  epochs: [1, 2\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.message.startswith("YAML:") and exc.value.span.line == 3


def test_overrides_parse_yaml_scalars_and_apply_after_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", "trainer:\n  epochs: 3\n")
    cfg = load_config(path, overrides=["trainer.epochs=50", "optimizer.betas=[0.5, 0.999]",
                                       "trainer.grad_clip=null", "optimizer.name=adam"])
    assert cfg.trainer.epochs == 50 and cfg.optimizer.betas == (0.5, 0.999)
    assert cfg.trainer.grad_clip is None and cfg.optimizer.name == "adam"
    assert parse_override("a.b=1e-3") == ("a.b", 1e-3)
    assert parse_override("run.name=x=y") == ("run.name", "x=y")


@pytest.mark.parametrize("text", ["trainer.epochs", "=3", "trainer..epochs=3"])
def test_malformed_override(text: str) -> None:
    with pytest.raises(ConfigError, match="malformed override"):
        parse_override(text)


def test_override_of_unknown_key_gets_a_hint_without_location() -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(None, overrides=["trainer.epoch=5"])
    assert exc.value.key == "trainer.epoch" and exc.value.span is None
    assert exc.value.hint == "did you mean `epochs`?"


def test_full_overlay_only_with_full(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", "trainer:\n  epochs: 3\nfull:\n  trainer:\n    epochs: 600\n    bogus: 1\n")
    assert resolve_config(path).data == {"trainer": {"epochs": 3}}
    with pytest.raises(ConfigError) as exc:
        load_config(path, full=True)
    assert exc.value.key == "trainer.bogus" and exc.value.span.line == 6  # located inside `full:`


def test_registered_nested_section_is_validated(tmp_path: Path) -> None:
    class Extra(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        rounds: int = 2
        inner: OptimizerSection = OptimizerSection(name="adam", lr=3e-4)

    saved = dict(C._SECTIONS)
    try:
        register_section("search.testalgo", Extra)
        cfg = load_config(None, overrides=["search.testalgo.rounds=5"])
        assert cfg.search.testalgo.rounds == 5 and cfg.search.testalgo.inner.name == "adam"
        assert cfg.search.val_fraction == 0.5
        with pytest.raises(ConfigError) as exc:
            load_config(None, overrides=["search.testalgo.round=5"])
        assert exc.value.hint == "did you mean `rounds`?"
    finally:
        C._SECTIONS.clear()
        C._SECTIONS.update(saved)
        C._model_cache = None
    with pytest.raises(ConfigError, match="unknown key `search.testalgo`"):
        load_config(None, overrides=["search.testalgo.rounds=5"])


def test_resolved_config_round_trips_through_yaml() -> None:
    cfg = load_config(configs_dir() / "train.yaml", full=True)
    again = validate_config(cfg.model_dump(mode="json"))
    assert again == cfg


def test_shipped_train_config_toy_and_full() -> None:
    toy = load_config(configs_dir() / "train.yaml")
    full = load_config(configs_dir() / "train.yaml", full=True)
    for cfg in (toy, full):  # the DARTS evaluation recipe in both modes
        assert (cfg.optimizer.name, cfg.optimizer.lr, cfg.optimizer.momentum) == ("sgd", 0.025, 0.9)
        assert cfg.optimizer.weight_decay == 3e-4 and cfg.schedule.name == "cosine"
        # aux_weight: null, so the model's own weight (DARTS_V2: `weight 0.4`) is used
        assert (cfg.trainer.aux_weight, cfg.trainer.drop_path_prob, cfg.trainer.grad_clip) == (None, 0.2, 5.0)
    assert (toy.trainer.epochs, toy.data.dataset) == (3, "builtin")
    assert (full.trainer.epochs, full.data.batch_size, full.data.augment.cutout) == (600, 96, 16)
    assert full.data.dataset == "cifar10:./data"


def _import_search_modules() -> None:
    """Import the search modules so that those registering config sections have done so."""
    import importlib
    import pkgutil

    import nasc.search

    for info in pkgutil.iter_modules(nasc.search.__path__):
        try:
            importlib.import_module(f"nasc.search.{info.name}")
        except Exception:  # a module being written by someone else must not break this test
            pass


def test_shipped_search_config_toy_and_full() -> None:
    _import_search_modules()
    path = configs_dir() / "search_darts.yaml"
    for full in (False, True):
        raw = resolve_config(path, full=full)
        darts = raw.data["search"].pop("darts")
        if "search.darts" in C._SECTIONS:  # the DARTS module's schema accepts its block
            raw.data["search"]["darts"] = darts
        cfg = validate_config(raw)
        if not full:
            assert cfg.trainer.epochs < 50 and cfg.data.dataset == "builtin"
            continue
        assert (cfg.trainer.epochs, cfg.data.batch_size, cfg.trainer.grad_clip) == (50, 64, 5.0)
        assert (cfg.optimizer.name, cfg.optimizer.lr, cfg.optimizer.momentum) == ("sgd", 0.025, 0.9)
        assert (cfg.optimizer.weight_decay, cfg.schedule.name, cfg.schedule.min_lr) == (3e-4, "cosine", 0.001)
        assert cfg.search.val_fraction == 0.5 and cfg.data.train_size is None
        assert cfg.data.dataset == "cifar10:./data"
        # the paper's alpha optimizer, C=16 and 8 cells, whatever the DARTS section calls them
        alpha = next(v for v in darts.values() if isinstance(v, dict) and v.get("name") == "adam")
        assert (float(alpha["lr"]), list(alpha["betas"]), float(alpha["weight_decay"])) == (3e-4, [0.5, 0.999], 1e-3)
        assert 16 in darts.values() and 8 in darts.values()


# ---- the guarded loader under configs ------------------------------------------------------------

def test_duplicate_key_in_a_config_file_is_refused_at_the_second_key(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", "trainer:\n  epochs: 3\n  grad_clip: 1.0\n  epochs: 30\n")
    with pytest.raises(ConfigError) as exc:  # it used to be silently last-wins
        load_config(path)
    err = exc.value
    assert err.message == "duplicate key `epochs`" and err.span is not None
    assert (err.span.file, err.span.line, err.span.col) == (str(path), 4, 3)
    assert err.hint is not None and "line 2" in err.hint


def test_duplicate_key_in_an_included_file_points_into_that_file(tmp_path: Path) -> None:
    base = write(tmp_path / "base.yaml", "optimizer:\n  lr: 0.1\n  lr: 0.2\n")
    path = write(tmp_path / "x.yaml", "include: base.yaml\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.span is not None and (exc.value.span.file, exc.value.span.line) == (str(base), 3)


def test_billion_laughs_config_is_refused_before_expanding(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    path = write(tmp_path / "bomb.yaml", "\n".join(lines) + "\ntrainer:\n  epochs: 3\n")
    with pytest.raises(ConfigError) as exc:  # 10**12 nodes: counted, never built
        load_config(path)
    assert "expands to more than" in exc.value.message
    assert exc.value.span is not None and exc.value.span.file == str(path) and exc.value.span.line > 1


def test_python_tags_in_a_config_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", "run:\n  name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.span is not None and (exc.value.span.line, exc.value.span.col) == (2, 9)


def test_merge_keys_in_a_config(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", "defaults: &d {lr: 0.1, momentum: 0.5}\n"
                                      "optimizer:\n  <<: *d\n  lr: 0.2\n")
    raw = resolve_config(path)
    raw.data.pop("defaults")
    cfg = validate_config(raw)
    assert (cfg.optimizer.lr, cfg.optimizer.momentum) == (0.2, 0.5)
    assert raw.span(("optimizer", "lr")).line == 4  # type: ignore[union-attr]


def test_override_errors_name_the_flag() -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(None, overrides=["optimizer.betas=[0.5"])
    assert exc.value.key == "--set" and "optimizer.betas=[0.5" in exc.value.message
