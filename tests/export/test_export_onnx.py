"""ONNX export: opset 17, eval mode, a dynamic batch axis, verified against onnxruntime; the CLI
prints the difference; failures leave no file behind."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

import nasc
from nasc.analysis.elaborate import elaborate
from nasc.cli.app import app
from nasc.errors import ExportError
from nasc.export.onnx import export_onnx
from nasc.frontend import load_model
from nasc.lower import build_module
from nasc.lower.artifact import save_artifact
from nasc.compiler import compile_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    result = compile_model(EXAMPLES / "darts_v2_cifar.nas", overrides={"C": 4, "layers": 4}, drop_path=True)
    path = tmp_path_factory.mktemp("onnx") / "model.pt"
    save_artifact(path, result.model, result.module)
    return path


def test_export_verifies_against_onnxruntime(model_file: Path, tmp_path: Path) -> None:
    net = nasc.load(model_file)
    out = tmp_path / "model.onnx"
    report = export_onnx(net, out)
    assert report.opset == 17 and report.max_abs_diff < 1e-4 and report.path == out
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    assert proto.opset_import[0].version == 17
    assert [i.name for i in proto.graph.input] == ["input"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    # an independent run at another batch size: eval-mode logits, no aux output
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.randn(5, 3, 32, 32)
    (got,) = sess.run(None, {"input": x.numpy()})
    with torch.no_grad():
        expected = net.eval()(x).numpy()
    assert got.shape == (5, 10)
    assert float(np.max(np.abs(got - expected))) < 1e-4
    assert len(proto.graph.output) == 1


def test_export_keeps_the_training_mode(model_file: Path, tmp_path: Path) -> None:
    net = nasc.load(model_file).train()
    export_onnx(net, tmp_path / "m.onnx")
    assert net.training


def test_export_refuses_a_search_network(tmp_path: Path) -> None:
    space = load_model(EXAMPLES / "darts_space.nas", overrides={"C": 4, "layers": 3})
    net = build_module(elaborate(space))
    with pytest.raises(ExportError, match="has choice edges"):
        export_onnx(net, tmp_path / "s.onnx")
    assert not (tmp_path / "s.onnx").exists()


def test_a_failed_verification_writes_nothing(model_file: Path, tmp_path: Path) -> None:
    net = nasc.load(model_file)
    with pytest.raises(ExportError, match="onnxruntime and torch disagree"):
        export_onnx(net, tmp_path / "m.onnx", tolerance=0.0)
    assert list(tmp_path.iterdir()) == []


def test_cli_export(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.onnx"
    res = runner.invoke(app, ["export", str(model_file), "--onnx", str(out)])
    assert res.exit_code == 0, res.output
    assert f"wrote {out} (opset 17" in res.stdout
    assert "onnxruntime check at batch 3: max abs diff" in res.stdout
    assert out.exists()
    res = runner.invoke(app, ["export", str(tmp_path / "missing.pt"), "--onnx", str(out)])
    assert res.exit_code == 1 and "artifact error" in res.stderr and "no such file" in res.stderr
    res = runner.invoke(app, ["export", str(model_file)])
    assert res.exit_code == 1 and "nothing to export to" in res.stderr
