"""`nasc compile` through typer's CliRunner: the default pipeline, scale-up flags, aux on/off, the
refusal of search spaces, `--dump-after`, `--passes`/`--option`, and rendered errors (exit 1)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import nasc
from nasc.cli.app import app
from nasc.ir.expr import evaluate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def compile_(*args: str) -> object:
    return runner.invoke(app, ["compile", *args])


def test_compile_darts_v2_with_defaults(tmp_path: Path) -> None:
    out = tmp_path / "model.pt"
    res = compile_(str(EXAMPLES / "darts_v2_cifar.nas"), "-o", str(out))
    assert res.exit_code == 0, res.output
    assert "compiled darts_v2_cifar: 20 cells, 3,349,342 params (+476,426 aux)" in res.stdout
    assert "passes: affine-bn (no change)" in res.stdout
    net = nasc.load(out)
    assert sum(p.numel() for k, p in net.named_parameters() if not k.startswith("aux.")) == 3_349_342
    assert net.artifact_meta["passes"] == ["affine-bn"]


def test_compile_search_to_eval_flags(tmp_path: Path) -> None:
    """Scale a found cell from search size to evaluation size, with the eval options on."""
    out = tmp_path / "model.pt"
    res = compile_(str(EXAMPLES / "darts_v2_cifar.nas"), "-o", str(out), "--set", "layers=8", "--set", "C=16",
                   "--cells", "11", "--channels", "12", "--aux", "--drop-path", "--seed", "3")
    assert res.exit_code == 0, res.output
    assert "passes: scale-up, aux-towers (no change), drop-path, affine-bn (no change)" in res.stdout
    net = nasc.load(out)
    params = {p.name: p.default for p in net.model.params}
    assert params["layers"] == 11 and params["C"] == 12
    assert [c.index for c in net.network.cells if c.reduction] == [3, 7]
    assert net.network.aux_after == 7
    assert any(e.drop_path for c in net.model.cells for n in c.nodes for e in n.edges)
    assert net.artifact_overrides == {"layers": 8, "C": 16}
    # the seed fixes the initial weights
    again = tmp_path / "again.pt"
    compile_(str(EXAMPLES / "darts_v2_cifar.nas"), "-o", str(again), "--set", "layers=8", "--set", "C=16",
             "--cells", "11", "--channels", "12", "--aux", "--drop-path", "--seed", "3")
    a, b = nasc.load(out).state_dict(), nasc.load(again).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_compile_explicit_reductions_and_no_aux(tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    res = compile_(str(EXAMPLES / "darts_v2_cifar.nas"), "-o", str(out), "--cells", "6", "--channels", "8",
                   "--reductions", "1,4", "--no-aux")
    assert res.exit_code == 0, res.output
    net = nasc.load(out)
    assert net.aux is None and net.model.aux is None
    assert [c.index for c in net.network.cells if c.reduction] == [1, 4]


def test_compile_refuses_a_search_space(tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    res = compile_(str(EXAMPLES / "darts_space.nas"), "-o", str(out))
    assert res.exit_code == 1
    assert "invalid model: `darts_space` is a search space (it has choice edges)" in res.stderr
    assert "hint: run `nasc search darts` on it" in res.stderr
    assert "Traceback" not in res.output
    assert not out.exists()


def test_compile_finalizes_a_space_with_weights(tmp_path: Path) -> None:
    weights = {f"{c}.n{i}.e{j}": [0, 0, 0, 0, 1, 0, 0, 0] for c in ("normal", "reduce")
               for i in range(4) for j in range(i + 2)}
    wfile = tmp_path / "alphas.json"
    wfile.write_text(json.dumps(weights))
    out = tmp_path / "m.pt"
    res = compile_(str(EXAMPLES / "darts_space.nas"), "-o", str(out), "--set", "C=4", "--set", "layers=5",
                   "--passes", "finalize,affine-bn", "--option", f"finalize.scores=@{wfile}", "--verify")
    assert res.exit_code == 0, res.output
    net = nasc.load(out)
    assert {e.op.op for c in net.model.cells for n in c.nodes for e in n.edges} == {"sep_conv_3x3"}
    assert net.model.affine


def test_dump_after_prints_the_ir(tmp_path: Path) -> None:
    res = compile_(str(EXAMPLES / "darts_v2_cifar.nas"), "-o", str(tmp_path / "m.pt"), "--drop-path",
                   "--dump-after", "drop-path")
    assert res.exit_code == 0, res.output
    assert "# IR after pass `drop-path`" in res.stdout
    assert "n3 = skip_connect(s0) + dil_conv_3x3(n0, drop_path=true)" in res.stdout
    res = compile_(str(EXAMPLES / "darts_v2_cifar.nas"), "-o", str(tmp_path / "n.pt"), "--dump-after", "scale-up")
    assert res.exit_code == 1
    assert "--dump-after: config error: --dump-after `scale-up`: no such pass in the pipeline" in res.stderr
    assert not (tmp_path / "n.pt").exists()


def test_pass_options_and_errors(tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    res = compile_(str(EXAMPLES / "darts_v2_cifar.nas"), "-o", str(out), "--set", "layers=5", "--set", "C=4",
                   "--passes", "aux-towers,affine-bn", "--option", "aux-towers.weight=0.25")
    assert res.exit_code == 0, res.output
    aux = nasc.load(out).model.aux
    assert aux is not None and evaluate(aux.weight, {}) == 0.25
    res = compile_(str(EXAMPLES / "darts_v2_cifar.nas"), "-o", str(out), "--passes", "aux-tower")
    assert res.exit_code == 1 and "unknown pass `aux-tower`" in res.stderr
    assert "did you mean `aux-towers`?" in res.stderr
    res = compile_(str(EXAMPLES / "darts_v2_cifar.nas"), "-o", str(out), "--passes", "affine-bn", "--cells", "8")
    assert res.exit_code == 1 and "give either a pass list or the compile options" in res.stderr
    res = compile_(str(EXAMPLES / "darts_v2_cifar.nas"), "-o", str(out), "--reductions", "6;13")
    assert res.exit_code == 1 and "must be comma-separated integers" in res.stderr
    res = compile_(str(EXAMPLES / "darts_v2_cifar.nas"), "-o", str(out), "--set", "layer=8")
    assert res.exit_code == 1 and "unknown param `layer`" in res.stderr


def test_source_errors_point_at_the_file(tmp_path: Path) -> None:
    src = tmp_path / "bad.nas"
    src.write_text((EXAMPLES / "darts_v2_cifar.nas").read_text().replace("dil_conv_3x3(n0)", "dil_conv_3x33(n0)"))
    res = compile_(str(src), "-o", str(tmp_path / "m.pt"))
    assert res.exit_code == 1
    line = next(i for i, t in enumerate(src.read_text().splitlines(), 1) if "dil_conv_3x33" in t)
    assert f"bad.nas:{line}:" in res.stderr
    assert "dil_conv_3x33" in res.stderr and "Traceback" not in res.output
