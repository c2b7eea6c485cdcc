"""The compile driver: source (or IR) -> passes -> elaborated network -> `NascNet`, the library
side of `nasc compile` (`nasc.api.compile` calls it).

    result = compile_model("final.nas", cells=20, channels=36, aux=True, drop_path=True)
    result.model, result.network, result.module, result.passes

The default pipeline for a discrete network is `scale-up` (when cells, channels or reductions are
given) -> `aux-towers` (when aux is asked for; `aux=False` removes a tower) -> `drop-path` (when
asked) -> `affine-bn`. A search space is refused unless the pipeline finalizes it.

It sits above the front ends, the passes and lowering (it is the one module that joins them), so
lowering itself needs neither.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nasc.analysis.network import Network
from nasc.errors import ConfigError, ValidationError
from nasc.ir.model import Model
from nasc.ir.queries import is_search_space
from nasc.passes.pipeline import Observer, parse_pass_list, run_pipeline
from nasc.passes.registry import PassResult

if TYPE_CHECKING:  # lowering imports torch; the compile function imports it when it runs
    from nasc.lower.net import NascNet


@dataclass
class CompileResult:
    """What `compile_model` produced: the final IR, its elaboration, the module, the pass reports,
    and the provenance a saved model file records (source, overrides, seed)."""

    model: Model
    network: Network
    module: NascNet
    passes: list[PassResult] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    seed: int | None = 0


def default_pipeline(cells: int | None = None, channels: int | None = None,
                     reductions: Sequence[int] | None = None, aux: bool | None = None,
                     drop_path: bool = False) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Pass names and options of the default evaluation pipeline for these compile options."""
    names: list[str] = []
    options: dict[str, dict[str, Any]] = {}
    if cells is not None or channels is not None or reductions is not None:
        names.append("scale-up")
        options["scale-up"] = {k: v for k, v in (("cells", cells), ("channels", channels),
                                                 ("reductions", list(reductions) if reductions is not None else None))
                               if v is not None}
    if aux is not None:
        names.append("aux-towers")
        options["aux-towers"] = {} if aux else {"enable": False}
    if drop_path:
        names.append("drop-path")
    names.append("affine-bn")
    return names, options


def parse_pass_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`["aux-towers.weight=0.3", "finalize.scores=@alphas.json"]` -> per-pass options, read by
    the one command-line `KEY=VALUE` parser (`nasc.overrides`; a value `@file` is the content of a
    JSON or YAML file). A malformed item is a `ConfigError`."""
    from nasc.overrides import parse_overrides

    out: dict[str, dict[str, Any]] = {}
    for key, value in parse_overrides(items, flag="--option", at_files=True):
        name, dot, opt = key.partition(".")
        if not dot or not opt:
            raise ConfigError(f"`--option {key}=...` must be PASS.OPTION=VALUE", key="--option",
                              hint="e.g. `--option aux-towers.weight=0.3`")
        out.setdefault(name, {})[opt] = value
    return out


def _refuse_space(model: Model, where: str) -> None:
    raise ValidationError(
        f"`{model.name}` is a search space (it has choice edges); {where}",
        model.span,
        hint="run `nasc search darts` on it to find a network, or finalize it with architecture weights "
             "(`--passes finalize` with finalize options)")


def compile_model(source: str | os.PathLike[str] | Model, *, overrides: Mapping[str, Any] | None = None,
                  passes: str | Sequence[str] | None = None, options: Mapping[str, Mapping[str, Any]] | None = None,
                  cells: int | None = None, channels: int | None = None, reductions: Sequence[int] | None = None,
                  aux: bool | None = None, drop_path: bool = False, seed: int | None = 0, verify: bool = False,
                  observer: Observer | None = None) -> CompileResult:
    """Compile a `.nas`/`.yaml` file (or a `Model`) to a module.

    `passes` replaces the default pipeline (then `cells`/`channels`/`reductions`/`aux`/`drop_path`
    must not be given); `options` are per-pass options merged over the defaults'. `seed` seeds
    torch before the weights are initialised.
    """
    import torch

    from nasc.analysis.elaborate import elaborate
    from nasc.lower.net import build_module

    if isinstance(source, Model):
        model = source
        if overrides:
            raise ConfigError("overrides apply when loading a source file; pass a path", key="overrides")
    else:
        from nasc.frontend import load_model

        model = load_model(str(source), overrides=dict(overrides or {}) or None)
    if passes is not None:
        if any(v is not None for v in (cells, channels, reductions, aux)) or drop_path:
            raise ConfigError("give either a pass list or the compile options (cells, channels, reductions, "
                              "aux, drop path), not both", key="passes",
                              hint="add `scale-up`, `aux-towers`, `drop-path` to the pass list with their options")
        names = parse_pass_list(passes)
        opts: dict[str, dict[str, Any]] = {}
    else:
        names, opts = default_pipeline(cells, channels, reductions, aux, drop_path)
    for k, v in (options or {}).items():
        opts[k] = {**opts.get(k, {}), **dict(v)}
    if is_search_space(model) and "finalize" not in names:
        _refuse_space(model, "`compile` builds a discrete network")
    reports: list[PassResult] = []

    def observe(r: PassResult) -> None:
        reports.append(r)
        if observer is not None:
            observer(r)

    model = run_pipeline(model, names, opts, verify=verify, observer=observe)
    if is_search_space(model):
        _refuse_space(model, "the passes left choice edges in it")
    network = elaborate(model)
    if seed is not None:
        torch.manual_seed(seed)
    module = build_module(network)
    where = None if isinstance(source, Model) else str(source)
    return CompileResult(model, network, module, reports, dict(overrides or {}), where, seed)
