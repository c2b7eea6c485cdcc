"""The one `KEY=VALUE` override parser: key syntax, YAML typing, errors naming the flag and item."""
from __future__ import annotations

from pathlib import Path

import pytest

from nasc.errors import ConfigError
from nasc.overrides import parse_overrides


def test_values_are_typed_by_yaml() -> None:
    items = ["a.int=50", "a.float=0.1", "a.exp=1e-3", "a.big=1e3", "a.neg=-2", "a.bool=true",
             "a.none=null", "a.tilde=~", "a.quoted='x y'", "a.word=sgd", "a.list=[0.5, 0.999]",
             "a.map={classes: 100}", "a.eq=x=y", "a.str='1e-3'"]
    assert dict(parse_overrides(items)) == {
        "a.int": 50, "a.float": 0.1, "a.exp": 0.001, "a.big": 1000.0, "a.neg": -2, "a.bool": True,
        "a.none": None, "a.tilde": None, "a.quoted": "x y", "a.word": "sgd", "a.list": [0.5, 0.999],
        "a.map": {"classes": 100}, "a.eq": "x=y", "a.str": "1e-3"}


def test_order_is_kept_and_keys_may_have_hyphens() -> None:
    out = parse_overrides(["aux-towers.weight=0.3", "x=1", "x=2"], flag="--option")
    assert out == [("aux-towers.weight", 0.3), ("x", 1), ("x", 2)]


@pytest.mark.parametrize("item,why", [
    ("trainer.epochs", "no `=`"),
    ("=3", "no key"),
    ("trainer..epochs=3", "empty part"),
    ("trainer.1x=3", "`1x` is not a key name"),
    ("trainer.epochs=", "no value"),
    ("a=[1, 2", "expected ','"),
    ("a=" + "[" * 40 + "]" * 40, "nested deeper"),
    ("a=" + "x" * 20_000, "too long"),
    ("a={b: 1, b: 2}", "duplicate key"),
])
def test_errors_name_the_flag_and_the_item(item: str, why: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_overrides([item], flag="--set")
    err = exc.value
    assert err.key == "--set" and why in err.message and err.hint
    assert err.message.startswith(f"malformed override `{item[:30]}")
    assert "--set" in err.hint


def test_a_single_name_key() -> None:
    assert parse_overrides(["C=16"], dotted=False) == [("C", 16)]
    for bad in ("a.b=1", "1x=2", "a-b=1"):
        with pytest.raises(ConfigError, match="is not a name"):
            parse_overrides([bad], dotted=False)


def test_invalid_yaml_suggests_quoting() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_overrides(["run.name=@home"])
    assert exc.value.hint == "quote the value to keep it as text: `--set run.name='@home'`"


def test_at_files_read_through_the_guarded_loader(tmp_path: Path) -> None:
    good = tmp_path / "w.yaml"
    good.write_text("normal: [[0.1, 0.9]]\n")
    assert parse_overrides([f"finalize.scores=@{good}"], flag="--option", at_files=True) == [
        ("finalize.scores", {"normal": [[0.1, 0.9]]})]
    with pytest.raises(ConfigError):  # without at_files, `@` is just invalid YAML
        parse_overrides([f"finalize.scores=@{good}"])
    dup = tmp_path / "d.yaml"
    dup.write_text("a: 1\na: 2\n")
    with pytest.raises(ConfigError) as exc:
        parse_overrides([f"p.w=@{dup}"], flag="--option", at_files=True)
    assert exc.value.span is not None and exc.value.span.line == 2
    with pytest.raises(ConfigError, match="cannot read") as exc:
        parse_overrides([f"p.w=@{tmp_path / 'nope.yaml'}"], flag="--option", at_files=True)
    assert exc.value.key == "--option"


def test_frontend_and_config_use_it() -> None:
    from nasc.frontend import parse_overrides as frontend_parse
    from nasc.train.config import parse_override

    assert frontend_parse(["C=16", "C=8", "name='x'"]) == {"C": 8, "name": "x"}
    assert parse_override("optimizer.betas=[0.5, 0.999]") == ("optimizer.betas", [0.5, 0.999])
    with pytest.raises(ConfigError) as exc:
        frontend_parse(["C="])
    assert exc.value.key == "--set" and "`C=`" in exc.value.message
