"""Torch-free analyses: elaboration with shape inference, cost model (params, MACs, memory)."""
