"""Where the shipped data lives: the grammar and the standard op library.

An installed wheel carries them under `nasc/_data/`; an editable checkout has them at the repo root.
"""
from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    packaged = _PKG / "_data" / name
    if packaged.is_dir():
        return packaged
    return _PKG.parent / name


def grammar_path() -> Path:
    """Path of `nasc.lark`."""
    return _data_dir("grammar") / "nasc.lark"


def stdlib_dir() -> Path:
    """Directory holding the standard op libraries (`std.nas`, ...)."""
    return _data_dir("stdlib_ops")


def examples_dir() -> Path:
    """The examples directory of a source checkout (not shipped in the wheel)."""
    return _PKG.parent / "examples"


def configs_dir() -> Path:
    """The shipped experiment configs (`train.yaml`, `search_darts.yaml`); `examples/configs` in
    a checkout, `nasc/_data/configs` in a wheel."""
    packaged = _PKG / "_data" / "configs"
    if packaged.is_dir():
        return packaged
    return _PKG.parent / "examples" / "configs"
