"""ONNX export of a lowered network, verified against onnxruntime.

The module is exported in eval mode (no aux tower, no drop path) with opset 17 and a dynamic batch
axis (`input` -> `logits`), through torch's TorchScript-based exporter (the torch.export-based one
needs `onnxscript`, which nasc does not require). The written file is then run with onnxruntime
on a random batch of a different size than the one traced, and compared with torch: the largest
absolute difference is reported and must stay below `tolerance`.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from nasc.errors import ExportError
from nasc.atomic import atomic_write_bytes
from nasc.lower.net import NascNet

DEFAULT_OPSET = 17
DEFAULT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class OnnxReport:
    """The result of an export: where, which opset, and the verified torch/onnxruntime difference."""

    path: Path
    opset: int
    max_abs_diff: float
    verify_batch: int
    size_bytes: int


def export_bytes(net: NascNet, opset: int = DEFAULT_OPSET) -> bytes:
    """Serialise `net` (eval mode) to ONNX bytes with a dynamic batch axis."""
    if net.arch_templates:
        raise ExportError(f"`{net.model.name}` has choice edges: export a finalized network",
                          hint="finalize the search space (nasc search / the finalize pass) first")
    c, h, w = net.network.input_shape
    was_training = net.training
    net.eval()
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
            torch.onnx.export(net, (torch.randn(1, c, h, w),), buf, dynamo=False, opset_version=opset,
                              input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                              do_constant_folding=True)
    except Exception as e:  # the exporter's own errors: unsupported op, opset too old, ...
        raise ExportError(f"ONNX export of `{net.model.name}` failed: {str(e).splitlines()[0]}",
                          hint=f"try another --opset (default {DEFAULT_OPSET})") from e
    finally:
        net.train(was_training)
    return buf.getvalue()


def verify_onnx(data: bytes, net: NascNet, batch: int = 3, seed: int = 0) -> float:
    """Run the ONNX model with onnxruntime and torch on the same random batch; max abs difference."""
    import numpy as np
    import onnxruntime as ort

    c, h, w = net.network.input_shape
    x = torch.randn(batch, c, h, w, generator=torch.Generator().manual_seed(seed))
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            expected = net(x).numpy()
    finally:
        net.train(was_training)
    try:
        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        (got,) = sess.run(["logits"], {"input": x.numpy()})
    except Exception as e:
        raise ExportError(f"onnxruntime cannot run the exported model: {str(e).splitlines()[0]}") from e
    if got.shape != expected.shape:
        raise ExportError(f"onnxruntime output shape {got.shape} differs from torch's {expected.shape}")
    return float(np.max(np.abs(got - expected)))


def export_onnx(net: NascNet, path: str | os.PathLike[str], opset: int = DEFAULT_OPSET,
                tolerance: float = DEFAULT_TOLERANCE, verify_batch: int = 3) -> OnnxReport:
    """Export `net` to `path` (atomically) after checking onnxruntime agrees within `tolerance`."""
    data = export_bytes(net, opset)
    diff = verify_onnx(data, net, verify_batch)
    if not diff < tolerance:
        raise ExportError(f"onnxruntime and torch disagree: max abs difference {diff:.3g} >= {tolerance:g}",
                          hint="the file was not written")
    target = atomic_write_bytes(path, data)
    return OnnxReport(target, opset, diff, verify_batch, len(data))
