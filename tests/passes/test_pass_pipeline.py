"""The pass registry and pipeline runner: parsing pass lists, option validation, change reports,
and verification between passes naming the failing pass and those before it."""
from __future__ import annotations

from pathlib import Path

import pytest

from nasc.errors import ConfigError, PassError
from nasc.frontend import load_model
from nasc.ir.model import Model
from nasc.passes import CompilerPass, PassResult, make_pass, parse_pass_list, pass_names, run_pipeline
from nasc.passes import registry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def v2() -> Model:
    return load_model(EXAMPLES / "darts_v2_cifar.nas")


def test_builtin_passes_are_registered() -> None:
    assert pass_names() == ["affine-bn", "aux-towers", "drop-path", "finalize", "nodes", "scale-up"]


def test_parse_pass_list() -> None:
    assert parse_pass_list("aux-towers, drop-path,,affine-bn ") == ["aux-towers", "drop-path", "affine-bn"]
    assert parse_pass_list(["scale-up"]) == ["scale-up"]
    assert parse_pass_list("") == []
    with pytest.raises(PassError, match="unknown pass `drop_path`") as e:
        parse_pass_list("aux-towers,drop_path")
    assert e.value.hint == "did you mean `drop-path`?"


def test_bad_options_name_the_key() -> None:
    with pytest.raises(ConfigError, match="bad option for pass `aux-towers`") as e:
        make_pass("aux-towers", {"weight": "heavy"})
    assert e.value.key == "passes.aux-towers.weight"
    with pytest.raises(ConfigError) as e:
        make_pass("scale-up", {"cels": 20})
    assert e.value.key == "passes.scale-up.cels"
    assert "cells, channels, reductions" in (e.value.hint or "")


def test_options_for_a_pass_not_in_the_pipeline_are_refused(v2: Model) -> None:
    with pytest.raises(ConfigError, match="`scale-up`, which is not in the pipeline") as e:
        run_pipeline(v2, "affine-bn", {"scale-up": {"cells": 8}})
    assert e.value.key == "passes.scale-up"
    with pytest.raises(ConfigError, match="`aux-tower`, which does not exist") as e:
        run_pipeline(v2, "aux-towers", {"aux-tower": {}})
    assert e.value.hint == "did you mean `aux-towers`?"


def test_observer_reports_changes(v2: Model) -> None:
    seen: list[PassResult] = []
    out = run_pipeline(v2, "affine-bn,drop-path,drop-path", observer=seen.append, verify=True)
    assert [(r.name, r.changed) for r in seen] == [("affine-bn", False), ("drop-path", True), ("drop-path", False)]
    assert seen[-1].model is out
    assert out.affine is True


def test_pipeline_does_not_modify_its_input(v2: Model) -> None:
    before = v2.model_copy(deep=True)
    run_pipeline(v2, "aux-towers,drop-path,scale-up", {"aux-towers": {"enable": False}, "scale-up": {"cells": 8}})
    assert v2 == before


class _BreakCells(CompilerPass):
    """A broken pass: points the layout at a cell template that does not exist."""

    def run(self, model: Model) -> Model:
        return model.model_copy(update={"layout": model.layout.model_copy(update={"normal": "nowhere"})})


class _Raises(CompilerPass):
    def run(self, model: Model) -> Model:
        raise PassError("cannot do it", hint="never")


def test_verify_names_the_failing_pass_and_those_before(v2: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    registry.REGISTRY.table()
    monkeypatch.setitem(registry.REGISTRY._items, "break-cells", _BreakCells)
    _BreakCells.name = "break-cells"
    with pytest.raises(PassError) as e:
        run_pipeline(v2, "affine-bn,drop-path,break-cells,aux-towers", verify=True)
    msg = e.value.message
    assert msg.startswith("pass `break-cells` (after: affine-bn, drop-path) left an invalid model: ")
    assert "nowhere" in msg
    # without verification the broken model goes through unnoticed (the runner trusts the passes)
    out = run_pipeline(v2, "break-cells", verify=False)
    assert out.layout.normal == "nowhere"


def test_errors_raised_by_a_pass_are_wrapped(v2: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    registry.REGISTRY.table()
    monkeypatch.setitem(registry.REGISTRY._items, "raises", _Raises)
    _Raises.name = "raises"
    with pytest.raises(PassError) as e:
        run_pipeline(v2, "raises", verify=False)
    assert e.value.message == "pass `raises` (the first pass) failed: cannot do it"
    assert e.value.hint == "never"


def test_register_twice_is_refused() -> None:
    registry.pass_names()  # the built-ins are registered
    _Raises.name = "affine-bn"
    try:
        with pytest.raises(ConfigError, match="already defined"):
            registry.register_pass(_Raises, "a plugin")
    finally:
        _Raises.name = "raises"
    assert registry.get_pass("affine-bn") is not _Raises
