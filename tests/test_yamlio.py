"""The guarded YAML loader: positions, merge keys, and each guard with a located error and a hint."""
from __future__ import annotations


import pytest

from nasc.errors import ConfigError, NascError, ParseError
from nasc.yamlio import YamlLimits, load_yaml


def refused(text: str, limits: YamlLimits = YamlLimits()) -> NascError:
    with pytest.raises(ParseError) as exc:
        load_yaml(text, "f.yaml", limits=limits)
    err = exc.value
    assert err.span is not None and err.span.file == "f.yaml" and err.hint  # located, with a hint
    return err


def where(err: NascError) -> tuple[int, int]:
    assert err.span is not None
    return (err.span.line, err.span.col)


def bomb(levels: int, width: int = 10) -> str:
    lines = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


# ---- data and positions -------------------------------------------------------------------------

def test_plain_data_and_positions() -> None:
    text = "trainer:\n  epochs: 3\n  betas: [0.5, 0.999]\nname: x\n"
    data, pos = load_yaml(text, "c.yaml")
    assert data == {"trainer": {"epochs": 3, "betas": [0.5, 0.999]}, "name": "x"}
    assert str(pos[("trainer", "epochs")]) == "c.yaml:2:3"
    assert (pos[("trainer", "betas", 1)].line, pos[("trainer", "betas", 1)].col) == (3, 16)
    node = pos.node(("trainer",))
    assert node is not None and (node.line, node.col) == (2, 3)  # the value, not the key
    assert pos.locate(("trainer", "epochs", "nope")) == pos[("trainer", "epochs")]
    assert ("trainer", "nope") not in pos


def test_empty_document_is_none() -> None:
    assert load_yaml("# only a comment\n", "f.yaml")[0] is None


def test_merge_keys_explicit_keys_win_and_the_first_merged_mapping_wins() -> None:
    text = ("base: &b {lr: 0.1, momentum: 0.9}\n"
            "other: &o {lr: 0.5, nesterov: true}\n"
            "opt:\n  <<: [*b, *o]\n  momentum: 0.5\n")
    data, pos = load_yaml(text, "f.yaml")
    assert data["opt"] == {"lr": 0.1, "momentum": 0.5, "nesterov": True}
    assert "<<" not in data["opt"]
    assert pos[("opt", "momentum")].line == 5
    assert (pos[("opt", "lr")].line, pos[("opt", "lr")].col) == (1, 11)  # where it was written


def test_a_merge_key_takes_mappings_only() -> None:
    err = refused("a: &a [1, 2]\nb:\n  <<: *a\n")
    assert "merge key" in err.message and where(err) == (3, 7)  # at the alias
    err = refused("b:\n  <<: [{x: 1}, 3]\n")
    assert where(err) == (2, 16)


def test_alias_copies_are_independent() -> None:
    data, _ = load_yaml("a: &a {x: 1}\nb: *a\n", "f.yaml")
    data["b"]["x"] = 2
    assert data["a"]["x"] == 1


# ---- guards -------------------------------------------------------------------------------------

def test_duplicate_key_is_located_at_the_second_key() -> None:
    err = refused("a: 1\nb:\n  c: 1\n  c: 2\n")
    assert err.message == "duplicate key `c`" and where(err) == (4, 3)
    assert err.hint is not None and "line 3" in err.hint


def test_duplicate_key_inside_a_merged_mapping() -> None:
    err = refused("b:\n  <<: {x: 1, x: 2}\n")
    assert err.message == "duplicate key `x`"


@pytest.mark.parametrize("text,col", [
    ("a: !!python/object/apply:os.system ['true']\n", 4),
    ("a: !!python/name:os.system ''\n", 4),
    ("a: !!set {x, y}\n", 4),
    ("a: !custom 3\n", 4),
])
def test_unsafe_and_unknown_tags_are_refused(text: str, col: int) -> None:
    err = refused(text)
    assert "not allowed" in err.message and where(err) == (1, col)


def test_billion_laughs_is_refused_before_expanding_at_the_alias() -> None:
    for levels in (9, 40):  # 10**9 and 10**40 nodes: counted, never expanded (or this would hang)
        err = refused(bomb(levels))
        assert "expands to more than" in err.message and "alias" in (err.hint or "")
        line, col = where(err)
        assert line > 1 and col > 1  # an alias use `*aN`, not the start of the file


def test_wide_aliases_are_counted_with_the_limit_given() -> None:
    text = "x: &x [1, 2, 3, 4, 5, 6, 7, 8, 9]\ny: [" + ", ".join(["*x"] * 200) + "]\n"
    assert load_yaml(text, "f.yaml")[0]["y"][199] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    err = refused(text, YamlLimits(max_nodes=500))
    assert where(err)[0] == 2 and "500" in err.message


def test_recursive_alias_is_refused_at_the_alias() -> None:
    err = refused("a: &a\n  b: [1, *a]\n")
    assert "recursive" in err.message and where(err) == (2, 10)


def test_deep_nesting_is_refused_while_composing() -> None:
    err = refused("[" * 5000 + "]" * 5000)
    assert "nested deeper than 200" in err.message and where(err) == (1, 201)
    err = refused("a:\n  b:\n    c: 1\n", YamlLimits(max_depth=3))
    assert where(err) == (3, 5)


def test_depth_added_by_aliases_is_refused() -> None:
    text = "a0: &a0 [[[1]]]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 12))
    err = refused(text, YamlLimits(max_depth=10))
    assert "aliases" in err.message and where(err)[0] > 1


def test_document_and_scalar_size_are_bounded() -> None:
    err = refused("a: " + "x" * 200 + "\n", YamlLimits(max_chars=100))
    assert "too large" in err.message and where(err) == (1, 1)
    err = refused("a: 1\nb: " + "x" * 200 + "\n", YamlLimits(max_scalar_chars=100))
    assert "longer than 100" in err.message and where(err) == (2, 4)


def test_syntax_errors_and_control_characters_are_located() -> None:
    err = refused("a:\n  b: [1, 2\n")
    assert err.message.startswith("YAML:") and where(err)[0] == 3
    err = refused("a: 1\nb: x\x07y\n")
    assert "not allowed" in err.message and where(err) == (2, 5)
    err = refused("a: 1\n---\nb: 2\n")
    assert err.message.startswith("YAML:")


def test_keys_must_be_plain() -> None:
    err = refused("? [1, 2]\n: x\n")
    assert "plain names" in err.message and where(err) == (1, 3)


def test_the_error_class_is_the_callers() -> None:
    with pytest.raises(ConfigError) as exc:
        load_yaml("a: 1\na: 2\n", "c.yaml", error=ConfigError)
    assert exc.value.span is not None and exc.value.span.line == 2
