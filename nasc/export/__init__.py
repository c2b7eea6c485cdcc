"""Exports: ONNX (verified with onnxruntime) and graphviz pictures."""
