"""Command-line `KEY=VALUE` overrides: one parser for `--set` (model params and config keys) and
`--option` (pass options).

Usage:
    from nasc.overrides import parse_overrides
    parse_overrides(["trainer.epochs=50", "optimizer.betas=[0.5, 0.999]"])
        # [("trainer.epochs", 50), ("optimizer.betas", [0.5, 0.999])]
    parse_overrides(["C=16", "name='x'"], dotted=False)             # [("C", 16), ("name", "x")]
    parse_overrides(["finalize.scores=@alphas.yaml"], flag="--option", at_files=True)

Keys: dot-separated parts, each a letter or `_` followed by letters, digits, `_` or `-`
(`aux-towers.weight`); with `dotted=False` one Python identifier (a model param). The item is
split at its first `=`, so values may contain `=`.

Values are typed by YAML's rules, read through the guarded loader (`nasc.yamlio`) with small
limits (a value is a few characters, not a document): `50` int, `0.1` float, `true` bool,
`null`/`~` None, `'x'` the string x, `[1, 2]` a list, `{a: 1}` a mapping, a bare word a string.
One departure: a plain number YAML 1.1 leaves as text (`1e-3`, `1e3`) is a number, because that
is what anyone typing it means. An empty value is refused (write `null` for None); so are values
that are not valid YAML, nested too deeply or too long. With `at_files=True` a value `@PATH` is
the content of that JSON/YAML file (read with the loader's default limits).

Errors are `ConfigError`s whose `key` is the flag and whose message quotes the bad item, with a
hint showing the expected form.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from nasc.errors import ConfigError, NascError
from nasc.limits import MAX_SOURCE_BYTES, read_file_bytes
from nasc.yamlio import YamlLimits, load_yaml

VALUE_LIMITS = YamlLimits(max_chars=16 * 1024, max_scalar_chars=16 * 1024, max_depth=16,
                          max_nodes=2_000)
_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\Z")


def parse_overrides(items: Iterable[str], *, flag: str = "--set", dotted: bool = True,
                    at_files: bool = False) -> list[tuple[str, Any]]:
    """Parse `KEY=VALUE` items into `(key, value)` pairs, in order (see the module docstring).

    `flag` names the option in errors; `dotted=False` accepts only a single identifier as the
    key; `at_files=True` reads a value `@PATH` from a JSON/YAML file. Raises `ConfigError`.
    """
    example = "section.key=value" if dotted else "NAME=VALUE"
    out: list[tuple[str, Any]] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        shown = item if len(item) <= 60 else item[:57] + "..."  # errors quote the item, briefly

        def bad(why: str, hint: str = f"write `{flag} {example}`") -> ConfigError:
            return ConfigError(f"malformed override `{shown}`: {why}", key=flag, hint=hint)

        if not sep:
            raise bad("no `=`")
        if not key:
            raise bad("no key before `=`")
        if dotted:
            for part in key.split("."):
                if not _PART.match(part):
                    raise bad(f"`{part}` is not a key name" if part else "empty part in the key")
        elif not key.isidentifier():
            raise bad(f"`{key}` is not a name", f"a param name is a letter or `_` followed by "
                                                f"letters, digits or `_`; write `{flag} {example}`")
        value = raw.strip()
        if not value:
            raise bad("no value after `=`", f"write `{flag} {key}=VALUE` (`{key}=null` for none)")
        if at_files and value.startswith("@"):
            out.append((key, _read_file(value[1:], shown, flag)))
            continue
        if len(value) > VALUE_LIMITS.max_chars:
            raise bad(f"the value is too long ({len(value)} characters; at most "
                      f"{VALUE_LIMITS.max_chars})",
                      f"`{flag} {key}=@FILE` reads the value from a JSON/YAML file" if at_files
                      else f"a `{flag}` value is a setting, not data")
        try:
            parsed, _ = load_yaml(value, None, limits=VALUE_LIMITS, error=ConfigError)
        except NascError as e:
            col = f" (column {e.span.col} of the value)" if e.span is not None else ""
            if e.message.startswith("YAML:"):  # a syntax error: the text was probably meant as is
                quoted = value.replace("'", "''") if len(value) <= 60 else "..."
                hint = f"quote the value to keep it as text: `{flag} {key}='{quoted}'`"
            else:
                hint = f"{e.hint} (in `{flag} {key}=...`)"
            raise bad(f"{e.message}{col}", hint) from None
        if isinstance(parsed, str) and parsed == value and _NUMBER.match(value):
            parsed = float(value) if any(c in value for c in ".eE") else int(value)
        out.append((key, parsed))
    return out


def _read_file(path: str, shown: str, flag: str) -> Any:
    """The data of a JSON/YAML file named by an `@PATH` value."""
    if not path:
        raise ConfigError(f"malformed override `{shown}`: no file name after `@`", key=flag,
                          hint=f"write `{flag} KEY=@file.yaml`")
    hint = "the path is relative to the working directory"
    try:  # a regular file of bounded size: a device or FIFO (also behind a link) is refused unread
        text = read_file_bytes(path, max_bytes=MAX_SOURCE_BYTES, what=f"`{flag}` value file",
                               error=ConfigError, key=flag, hint=hint).decode("utf-8")
    except (FileNotFoundError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read `{path}` (from `{flag} {shown}`): "
                          f"{getattr(e, 'strerror', None) or e}", key=flag, hint=hint) from None
    data, _ = load_yaml(text, path, error=ConfigError)
    return data
