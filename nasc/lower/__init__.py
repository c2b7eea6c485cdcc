"""Lowering: the IR (elaborated) to a torch nn.Module, by interpretation (no codegen)."""
