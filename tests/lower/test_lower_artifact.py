"""The compiled model file: one `torch.load(weights_only=True)`-safe dict; `nasc.load` rebuilds the
module bit-for-bit; truncated, tampered, foreign and too-new files are refused with `ArtifactError`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import nasc
from nasc.errors import ArtifactError
from nasc.ir.model import IR_VERSION
from nasc.lower.artifact import FORMAT_TAG, _digest, read_artifact, save_artifact
from nasc.compiler import compile_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    torch.set_num_threads(1)
    result = compile_model(EXAMPLES / "darts_v2_cifar.nas", overrides={"C": 4, "layers": 4}, drop_path=True,
                           seed=1)
    path = tmp_path_factory.mktemp("art") / "model.pt"
    save_artifact(path, result.model, result.module, result.overrides, {"seed": 1})
    return path, result


def resave(src: Path, dst: Path, edit) -> Path:  # noqa: ANN001
    payload = torch.load(src, weights_only=True)
    edit(payload)
    torch.save(payload, dst)
    return dst


def test_round_trip_rebuilds_the_same_module(compiled: tuple[Path, object]) -> None:
    path, result = compiled
    net = nasc.load(path)
    assert not net.training
    assert net.model == result.model
    original = result.module.state_dict()
    loaded = net.state_dict()
    assert list(loaded) == list(original)
    assert all(torch.equal(loaded[k], original[k]) for k in original)
    x = torch.randn(2, 3, 32, 32)
    result.module.eval()
    with torch.no_grad():
        assert torch.equal(net(x), result.module(x))
    assert net.artifact_overrides == {"C": 4, "layers": 4}
    assert net.artifact_meta == {"seed": 1}


def test_file_is_a_plain_dict_loadable_with_weights_only(compiled: tuple[Path, object]) -> None:
    path, result = compiled
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == FORMAT_TAG
    assert payload["format_version"] == 1
    assert payload["nasc_version"] == nasc.__version__
    assert payload["ir_version"] == IR_VERSION
    assert json.loads(payload["ir"])["name"] == "darts_v2_cifar"
    assert payload["overrides"] == {"C": 4, "layers": 4}
    assert set(payload["state_dict"]) == set(result.module.state_dict())
    assert len(payload["sha256"]) == 64


def test_ir_is_self_contained(compiled: tuple[Path, object], monkeypatch: pytest.MonkeyPatch) -> None:
    # loading must not read the std library: the IR carries the ops it uses
    path, _ = compiled
    ops = {d["name"]: d.get("module") for d in json.loads(torch.load(path, weights_only=True)["ir"])["ops"]}
    assert ops["sep_conv_3x3"] == "std" and ops["cifar_aux"] == "std"

    def no_imports(*_a: object, **_k: object) -> None:
        raise AssertionError("loading an artifact resolved imports")

    monkeypatch.setattr("nasc.frontend.imports.resolve_imports", no_imports)
    art = read_artifact(path)
    assert art.model.op_def("sep_conv_3x3") is not None
    assert nasc.load(path) is not None


def test_truncated_file_is_refused(compiled: tuple[Path, object], tmp_path: Path) -> None:
    path, _ = compiled
    data = path.read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="truncated or not a nasc model file"):
        nasc.load(bad)


def test_tampered_weights_are_refused(compiled: tuple[Path, object], tmp_path: Path) -> None:
    path, _ = compiled

    def edit(p: dict) -> None:
        p["state_dict"]["head.1.weight"][0, 0] += 1.0

    with pytest.raises(ArtifactError, match="hash mismatch"):
        nasc.load(resave(path, tmp_path / "w.pt", edit))


def test_tampered_ir_is_refused(compiled: tuple[Path, object], tmp_path: Path) -> None:
    path, _ = compiled

    def edit(p: dict) -> None:
        data = json.loads(p["ir"])
        data["affine"] = False
        new = json.dumps(data, indent=2) + "\n"
        assert new != p["ir"]
        p["ir"] = new

    with pytest.raises(ArtifactError, match="hash mismatch"):
        nasc.load(resave(path, tmp_path / "ir.pt", edit))


def test_unknown_format_is_refused(compiled: tuple[Path, object], tmp_path: Path) -> None:
    path, _ = compiled
    other = tmp_path / "other.pt"
    torch.save({"model": torch.zeros(2)}, other)
    with pytest.raises(ArtifactError, match="unknown format None"):
        nasc.load(other)
    torch.save([1, 2, 3], other)
    with pytest.raises(ArtifactError, match="unknown format 'list'"):
        nasc.load(other)

    def edit(p: dict) -> None:
        p["format"] = "something.else"

    with pytest.raises(ArtifactError, match="unknown format 'something.else'"):
        nasc.load(resave(path, tmp_path / "f.pt", edit))


def test_newer_ir_version_is_refused(compiled: tuple[Path, object], tmp_path: Path) -> None:
    path, _ = compiled

    def edit(p: dict) -> None:
        p["ir_version"] = IR_VERSION + 1
        data = json.loads(p["ir"])
        data["ir_version"] = IR_VERSION + 1
        p["ir"] = json.dumps(data)
        p["sha256"] = _digest(p["ir"], p["overrides"], p["meta"], p["state_dict"])  # a consistent newer file

    with pytest.raises(ArtifactError, match=f"IR version {IR_VERSION + 1} is newer than this nasc reads"):
        nasc.load(resave(path, tmp_path / "v.pt", edit))


def test_newer_format_version_is_refused(compiled: tuple[Path, object], tmp_path: Path) -> None:
    path, _ = compiled

    def edit(p: dict) -> None:
        p["format_version"] = 99

    with pytest.raises(ArtifactError, match="file format version 99 is newer"):
        nasc.load(resave(path, tmp_path / "fv.pt", edit))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no such file"):
        nasc.load(tmp_path / "absent.pt")


def test_failed_write_leaves_nothing_behind(compiled: tuple[Path, object], tmp_path: Path) -> None:
    _, result = compiled
    target = tmp_path / "m.pt"
    with pytest.raises(TypeError):
        save_artifact(target, result.model, result.module, meta={"bad": object()})  # not JSON: fails mid-way
    assert list(tmp_path.iterdir()) == []
    # and an existing file survives a failed overwrite
    save_artifact(target, result.model, result.module)
    before = target.read_bytes()
    with pytest.raises(TypeError):
        save_artifact(target, result.model, result.module, meta={"bad": object()})
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
