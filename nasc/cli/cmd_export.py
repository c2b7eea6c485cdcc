"""`nasc export model.pt --onnx model.onnx`: ONNX export verified against onnxruntime."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from nasc import api
from nasc.cli.render import fail
from nasc.errors import ConfigError, NascError


def register(app: typer.Typer) -> None:
    """Register `nasc export`."""

    @app.command("export")
    def export_cmd(
        model: Path = typer.Argument(..., help="a model file written by `nasc compile`"),
        onnx: Optional[Path] = typer.Option(None, "--onnx", help="write an ONNX file here"),
        opset: int = typer.Option(17, "--opset", help="ONNX opset version"),
        tolerance: float = typer.Option(1e-4, "--tolerance", help="largest allowed torch/onnxruntime difference"),
    ) -> None:
        """Export a compiled model (eval mode, dynamic batch) and check it with onnxruntime."""
        try:
            if onnx is None:
                raise ConfigError("nothing to export to", key="--onnx", hint="e.g. `--onnx model.onnx`")
            report = api.export_onnx(model, onnx, opset=opset, tolerance=tolerance)
        except NascError as e:
            raise fail(e) from None
        typer.echo(f"wrote {report.path} (opset {report.opset}, {report.size_bytes:,} bytes, dynamic batch)")
        typer.echo(f"onnxruntime check at batch {report.verify_batch}: max abs diff {report.max_abs_diff:.3g} "
                   f"(< {tolerance:g})")
