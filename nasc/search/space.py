"""The space as a search sees it: search-size preparation and fitting it to the data (torch-free).

    prepare_space(space, config.search.darts)      # `params` overrides, then scale-up to cells/channels
    fit_to_data(space, classes=10, shape=(3, 32, 32))   # the class count from the data, when a param
"""
from __future__ import annotations

from typing import Any

from nasc.errors import ConfigError, raise_all
from nasc.ir.expr import Ref
from nasc.ir.model import Model


def prepare_space(space: Model, section: Any) -> Model:
    """The space as searched: `section.params` overrides, then the search size (`scale-up` to
    `section.cells` / `section.channels`; None keeps the space's own)."""
    from nasc.frontend import apply_overrides
    from nasc.ops.registry import primitive_table
    from nasc.ir.verify import verify
    from nasc.passes.scale_up import scale_up

    out = apply_overrides(space, dict(getattr(section, "params", {}) or {}))
    out = scale_up(out, cells=getattr(section, "cells", None), channels=getattr(section, "channels", None))
    raise_all(verify(out, primitive_table()))
    return out


def fit_to_data(space: Model, classes: int, shape: tuple[int, int, int]) -> Model:
    """Set the space's class count from the data when it is a param (`classes = classes`);
    refuse data whose image shape or class count the space cannot take."""
    from nasc.frontend import apply_overrides
    from nasc.passes.common import eval_in_model

    want = tuple(eval_in_model(space, e) for e in space.input)
    if want != tuple(shape):
        raise ConfigError(f"the data has images of shape {tuple(shape)}, the space `{space.name}` "
                          f"expects {want}", key="data.dataset",
                          hint="pick a dataset of the space's input shape")
    have = eval_in_model(space, space.classes)
    if have == classes:
        return space
    if isinstance(space.classes, Ref) and any(p.name == space.classes.name for p in space.params):
        return apply_overrides(space, {space.classes.name: classes})
    raise ConfigError(f"the data has {classes} classes, the space `{space.name}` has {have}",
                      key="data.dataset", hint="set the space's classes to the dataset's")


def comment_header(text: str) -> str:
    """`text` as `#` comment lines, for the top of a written .nas/.yaml file."""
    return "".join(f"# {line}\n" for line in text.splitlines())
