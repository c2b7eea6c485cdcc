"""`nasc.api`, the one public surface: load, check, format, stats, compile and model files, draw,
search delegation, plugins."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nasc import api
from nasc.errors import ConfigError, NascError

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "examples"
V2 = EX / "darts_v2_cifar.nas"


def test_load_takes_overrides_as_a_mapping_or_items() -> None:
    a = api.load(V2, {"C": 16, "layers": 8})
    b = api.load(str(V2), ["C=16", "layers=8"])
    assert a == b
    assert {p.name: p.default for p in a.params}["layers"] == 8
    assert api.load(V2, []) == api.load(V2)
    with pytest.raises(NascError, match="unknown param"):
        api.load(V2, ["layerz=8"])


def test_check_reports_network_space_and_library() -> None:
    r = api.check(V2)
    assert r.model is not None and r.network is not None and r.library_ops is None
    assert len(r.network.cells) == 20 and r.params == api.stats(V2).cost.params > 3_000_000
    assert not r.search_space and r.choice_edges == 0 and r.warnings == ()
    space = api.check(EX / "darts_space.nas")
    assert space.search_space and space.choice_edges == 28
    lib = api.check(ROOT / "stdlib_ops" / "std.nas")
    assert lib.model is None and lib.library_ops and lib.library_ops > 10


def test_check_returns_warnings_and_raises_errors(tmp_path: Path) -> None:
    src = V2.read_text()
    p = tmp_path / "unused.nas"
    p.write_text((EX / "resnet20.nas").read_text().replace("  n2 = relu(n1)\n", "  n2 = relu(n1)\n  n3 = relu(n1)\n"))
    r = api.check(p)
    assert r.warnings and "`n3`" in r.warnings[0].message
    bad = tmp_path / "bad.nas"
    bad.write_text(src.replace("input = (3, 32, 32)", "input = (3, 2, 2)"))
    with pytest.raises(NascError):
        api.check(bad)
    with pytest.raises(NascError, match="file not found"):
        api.check(tmp_path / "nope.nas")


def test_format_source_and_file(tmp_path: Path) -> None:
    text = V2.read_text()
    assert api.format_source(text, V2) == text
    p = tmp_path / "m.nas"
    messy = text.replace("n0 = ", "n0  =  ", 1)
    p.write_text(messy)
    checked = api.format_file(p, check=True)
    assert checked.changed and not checked.written and p.read_text() == messy
    assert checked.diff().startswith(f"--- {p}\n+++ {p} (formatted)\n")
    done = api.format_file(p)
    assert done.written and p.read_text() == text == done.formatted
    again = api.format_file(p)
    assert not again.changed and not again.written and again.diff() == ""


def test_format_file_write_failure_is_a_nasc_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nasc.atomic

    def refuse(path: Any, text: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(nasc.atomic, "atomic_write_text", refuse)
    p = tmp_path / "m.nas"
    p.write_text(V2.read_text().replace("n0 = ", "n0  =  ", 1))
    with pytest.raises(NascError, match=f"cannot write {p}: Permission denied"):
        api.format_file(p)


def test_stats_from_a_path_or_a_model() -> None:
    by_path = api.stats(V2, ["C=16"])
    by_model = api.stats(api.load(V2, {"C": 16}))
    assert by_path.cost.params == by_model.cost.params < api.stats(V2).cost.params
    d = by_path.as_dict()
    assert d["model"] == "darts_v2_cifar" and d["params"] == by_path.cost.params and "latency" not in d


def test_compile_save_and_load_a_model_file(tmp_path: Path) -> None:
    import torch

    result = api.compile(V2, overrides=["C=4", "layers=5"], passes="aux-towers,affine-bn",
                         options=["aux-towers.weight=0.25"], seed=3)
    assert [r.name for r in result.passes] == ["aux-towers", "affine-bn"]
    assert result.source == str(V2) and result.seed == 3 and result.overrides == {"C": 4, "layers": 5}
    path = api.save_model(result, tmp_path / "m.pt", meta={"note": "test"})
    assert api.read_model(path) == result.model
    net = api.load_module(path)
    assert net.artifact_meta == {"source": str(V2), "passes": ["aux-towers", "affine-bn"], "seed": 3,
                                 "note": "test"}
    for k, v in result.module.state_dict().items():
        assert torch.equal(v, net.state_dict()[k]), k
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_compile_refuses_overrides_for_a_model_and_bad_options() -> None:
    with pytest.raises(ConfigError, match="overrides apply when loading a source file"):
        api.compile(api.load(V2), overrides={"C": 4})
    with pytest.raises(ConfigError, match="PASS.OPTION=VALUE"):
        api.parse_pass_options(["aux-towers=1"])
    assert api.parse_pass_options(["aux-towers.weight=0.3", "scale-up.reductions=[1, 2]"]) == {
        "aux-towers": {"weight": 0.3}, "scale-up": {"reductions": [1, 2]}}


def test_draw_writes_a_picture(tmp_path: Path) -> None:
    drawn = api.draw(V2, tmp_path / "cells.dot", overrides=["layers=5"])
    assert drawn.path.is_file() and drawn.network is not None and len(drawn.network.cells) == 5
    assert "digraph" in drawn.path.read_text()
    assert api.draw(V2, tmp_path / "c.dot", cells_only=True).network is None


def test_to_nas_and_schema() -> None:
    model = api.load(V2)
    assert api.load(V2) == model and "network darts_v2_cifar" in api.to_nas(model)
    assert api.schema()["title"]


def test_plugins_lists_every_kind_with_its_origin() -> None:
    found = {(p.kind, p.name): p for p in api.plugins()}
    assert found[("op", "conv")].origin == "built-in"
    assert found[("op", "sep_conv_3x3")].origin == "stdlib:std.nas"
    assert found[("pass", "aux-towers")].origin == "built-in"
    assert found[("search", "darts")].origin == "built-in"
    assert found[("dataset", "builtin")].origin == "built-in"


def test_plugins_name_a_plugins_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    import nasc.plugins
    from nasc.search import registry

    entry = nasc.plugins.PluginEntry("nasc.searches", "evolve", "my_pkg.search:Evolution", "my-nas-plugin")
    known = dict(registry.entries())
    known["evolve"] = registry.SearchEntry("evolve", entry.target, "my-nas-plugin")
    monkeypatch.setattr(registry, "_entries", known)
    real = nasc.plugins.all_entry_points
    monkeypatch.setattr(nasc.plugins, "all_entry_points",
                        lambda: {**real(), "nasc.searches": [entry]})
    info = next(p for p in api.plugins() if p.name == "evolve")
    assert (info.kind, info.origin, info.target) == ("search", "my-nas-plugin", "my_pkg.search:Evolution")
    assert "evolve" in api.search_names()


def test_search_delegates_to_the_run_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    from nasc.search import scaffold

    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def fake(kind: str) -> Any:
        return lambda *a, **kw: calls.append((kind, a, kw)) or kind

    monkeypatch.setattr(scaffold, "start_search", fake("start"))
    monkeypatch.setattr(scaffold, "run_search", fake("run"))
    monkeypatch.setattr(scaffold, "resume_search", fake("resume"))
    assert api.search("random", "space.nas", overrides=["trainer.epochs=1"], values={"run.seed": 1}) == "start"
    assert calls[-1][2]["overrides"] == ["trainer.epochs=1"] and calls[-1][2]["values"] == {"run.seed": 1}
    assert api.search("random", "space.nas", "cfg", run="RUN") == "run"  # type: ignore[arg-type]
    assert calls[-1][1] == ("random", "space.nas", "cfg") and calls[-1][2]["run"] == "RUN"
    assert api.resume_search("runs/x", device="cpu", expect="random") == "resume"
    assert calls[-1][2] == {"events": None, "device": "cpu", "expect": "random"}
    assert api.search_info("random").flags
