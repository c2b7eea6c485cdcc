"""Limits before allocation on the compile and model-file paths: absurd networks are refused from
their analytic figures before any module is built; a model file's sha256 is no authentication
(a re-hashed edited IR is verified) and a zip bomb is refused from the zip directory alone."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from nasc import api, limits
from nasc.cli.app import app
from nasc.errors import ArtifactError, NascError, ValidationError
from nasc.lower import artifact, net

ROOT = Path(__file__).resolve().parents[2]
RESNET = ROOT / "examples" / "resnet20.nas"
runner = CliRunner()


@pytest.fixture
def no_modules(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record every `NascNet` construction (a refusal must come before the first)."""
    built: list[int] = []
    real = net.NascNet.__init__

    def counting(self: Any, network: Any) -> None:
        built.append(1)
        real(self, network)

    monkeypatch.setattr(net.NascNet, "__init__", counting)
    return built


def test_compile_refuses_a_million_cells_and_huge_widths(tmp_path: Path, no_modules: list[int]) -> None:
    out = tmp_path / "m.pt"
    r = runner.invoke(app, ["compile", str(RESNET), "-o", str(out), "--cells", "1000000"])
    assert r.exit_code == 1 and "1,000,000 cells, over the limit" in r.output and "--max-memory" in r.output, r.output
    r = runner.invoke(app, ["compile", str(RESNET), "-o", str(out), "--channels", str(10**7)])
    assert r.exit_code == 1 and "would need about" in r.output and "over the limit" in r.output, r.output
    assert "resnet20.nas:20:9" in r.output  # located at the network
    assert no_modules == [] and not out.exists()


def test_max_memory_moves_the_limit(tmp_path: Path, no_modules: list[int]) -> None:
    """A toy network fits the machine but not 64 KiB; `--max-memory`, `api.compile(max_memory=)`
    and NASC_MAX_MEMORY all set the limit (the refusal names which one)."""
    r = runner.invoke(app, ["compile", str(RESNET), "-o", str(tmp_path / "a.pt"), "--max-memory", "64K"])
    assert r.exit_code == 1 and "over the limit of 64.00 KiB (--max-memory)" in r.output, r.output
    with pytest.raises(ValidationError, match=r"over the limit of 64.00 KiB \(--max-memory\)"):
        api.compile(RESNET, max_memory="64K")
    with pytest.raises(NascError, match="not a memory size"):
        api.compile(RESNET, max_memory="lots")
    assert no_modules == []
    result = api.compile(RESNET, max_memory="1G")
    assert no_modules == [1] and result.module is not None


def _rehashed(src: Path, dst: Path, edit: Any) -> Path:
    """`src` with its IR edited by `edit(dict)` and the sha256 recomputed: a forged model file."""
    payload = torch.load(src, weights_only=True)
    ir = json.loads(payload["ir"])
    edit(ir)
    payload["ir"] = json.dumps(ir)
    payload["sha256"] = artifact._digest(payload["ir"], payload["overrides"], payload["meta"], payload["state_dict"])
    torch.save(payload, dst)
    return dst


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("art") / "m.pt"
    api.save_model(api.compile(RESNET), path)
    return path


def test_rehashed_edited_ir_is_verified(model_file: Path, tmp_path: Path, no_modules: list[int]) -> None:
    def unknown_op(ir: dict[str, Any]) -> None:
        ir["head"]["op"]["op"] = "no_such_op"

    def huge_cells(ir: dict[str, Any]) -> None:
        ir["params"][1]["default"] = 10**6

    def huge_width(ir: dict[str, Any]) -> None:
        ir["params"][0]["default"] = 10**7

    bad = _rehashed(model_file, tmp_path / "a.pt", unknown_op)
    with pytest.raises(ArtifactError, match="the stored IR is invalid: unknown op `no_such_op`"):
        api.read_model(bad)
    bad = _rehashed(model_file, tmp_path / "b.pt", huge_cells)
    with pytest.raises(ArtifactError, match="`cells` is 1000000"):
        api.load_module(bad)
    bad = _rehashed(model_file, tmp_path / "c.pt", huge_width)
    with pytest.raises(ArtifactError, match="would need about .* over the limit"):
        api.load_module(bad)
    assert no_modules == []  # refused before any module was built


def test_zip_bomb_is_refused_before_torch_load(model_file: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append("load"))
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.pkl", b"\0" * (16 * 2**20))  # 16 MiB of zeros in ~16 KiB
    assert bomb.stat().st_size < 2**20
    with pytest.raises(ArtifactError, match="compressed"):
        api.read_model(bomb)
    # a stored entry whose header claims more than the whole file
    liar = tmp_path / "liar.pt"
    data = bytearray(model_file.read_bytes())
    start = data.find(b"PK\x01\x02")  # the first central directory record
    data[start + 24:start + 28] = (2**31).to_bytes(4, "little")  # its uncompressed size: 2 GiB
    liar.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="claims 2.00 GiB, more than the whole file"):
        api.read_model(liar)
    assert loads == []


def test_training_memory_is_checked_before_a_run_dir(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(ValidationError, match=r"\(training\) would need about .* batch of 1000000"):
        api.train(model_file, values={"data.batch_size": 1_000_000}, out=out)
    with pytest.raises(NascError, match=r"over the limit of 1.00 MiB \(run.max_memory\)"):
        api.train(model_file, values={"run.max_memory": "1M"}, out=out)
    assert not out.exists()
    with limits.max_memory("1M"):  # the scope does not leak into a later default
        pass
    assert limits.current().source != "--max-memory"
