"""Compiler passes over the IR, one module each, and the pipeline runner.

    aux-towers   add / remove the auxiliary tower                 nasc.passes.aux_towers
    drop-path    mark non-identity edges for drop path            nasc.passes.drop_path
    affine-bn    affine batch norm in cells (evaluation)          nasc.passes.affine_bn
    finalize     space + architecture weights -> network          nasc.passes.finalize
    scale-up     cells / channels / reductions                    nasc.passes.scale_up

Each pass is a pure function `Model -> Model` plus an adapter class (its fields are the options),
listed in `nasc.passes.builtin`; plugins add passes by the `nasc.passes` entry point.
"""
from __future__ import annotations

from nasc.passes.pipeline import parse_pass_list, run_pipeline, verify_model
from nasc.passes.registry import CompilerPass, PassResult, get_pass, make_pass, pass_names, register_pass

__all__ = ["CompilerPass", "PassResult", "get_pass", "make_pass", "parse_pass_list", "pass_names",
           "register_pass", "run_pipeline", "verify_model"]
