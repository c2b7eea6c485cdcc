"""The pass pipeline runner: `run_pipeline(model, "aux-towers,drop-path", options, verify)`.

With `verify=True` (tests, `nasc compile --verify`) the IR is checked after every pass
(`nasc.ir.verify.verify`, then `nasc.analysis.elaborate.elaborate`), so a pass that leaves an
invalid model is caught where it happens: the `PassError` names the failing pass and the passes
that ran before it, and keeps the span and hint of the underlying error.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nasc.errors import ConfigError, Diagnostics, NascError, PassError, did_you_mean
from nasc.ir.model import Model
from nasc.passes.registry import PassResult, get_pass, make_pass, pass_names

Observer = Callable[[PassResult], None]


def parse_pass_list(passes: str | Sequence[str]) -> list[str]:
    """Split `"aux-towers, drop-path"` into names (empty items ignored) and check each exists."""
    names = [p.strip() for p in passes.split(",")] if isinstance(passes, str) else [p.strip() for p in passes]
    names = [n for n in names if n]
    for n in names:
        get_pass(n)
    return names


def _context(name: str, before: list[str]) -> str:
    return f"pass `{name}` (after: {', '.join(before)})" if before else f"pass `{name}` (the first pass)"


def _wrap(err: NascError, name: str, before: list[str], what: str) -> PassError:
    inner = err.errors[0] if isinstance(err, Diagnostics) and err.errors else err
    more = f" (and {len(err.errors) - 1} more error(s))" if isinstance(err, Diagnostics) and len(err.errors) > 1 else ""
    pe = PassError(f"{_context(name, before)} {what}: {inner.message}{more}", inner.span, inner.hint, inner.key)
    pe.__cause__ = err
    return pe


def verify_model(model: Model) -> None:
    """Run the IR verifier and shape inference; raise the first problem (several as `Diagnostics`)."""
    from nasc.analysis.elaborate import elaborate
    from nasc.errors import raise_all
    from nasc.ir.verify import verify
    from nasc.ops.registry import primitive_table

    raise_all(verify(model, primitive_table()))
    elaborate(model)


def run_pipeline(model: Model, passes: str | Sequence[str], options: Mapping[str, Mapping[str, Any]] | None = None,
                 verify: bool = False, observer: Observer | None = None) -> Model:
    """Run `passes` in order over `model` and return the final model.

    `options` maps a pass name to its options (every instance of that pass gets them). `observer`
    is called with each pass's `PassResult` (the CLI uses it for `--dump-after` and reports).
    """
    names = parse_pass_list(passes)
    options = dict(options or {})
    for key in options:
        if key not in names:
            hint = did_you_mean(key, names) or f"the pipeline runs: {', '.join(names) or 'nothing'}"
            known = key in pass_names()
            msg = f"options given for pass `{key}`, which " + ("is not in the pipeline" if known else "does not exist")
            raise ConfigError(msg, key=f"passes.{key}", hint=hint)
    instances = [make_pass(n, options.get(n)) for n in names]
    done: list[str] = []
    for name, p in zip(names, instances):
        try:
            result = p.apply(model)
        except NascError as e:
            raise _wrap(e, name, done, "failed") from e
        if verify:
            try:
                verify_model(result.model)
            except NascError as e:
                raise _wrap(e, name, done, "left an invalid model") from e
        if observer is not None:
            observer(result)
        model = result.model
        done.append(name)
    return model
