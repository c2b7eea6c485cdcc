"""Discoverability: `nasc ops` and `nasc config show`, and the README's command reference."""
from __future__ import annotations

import json
import re
from pathlib import Path

from typing import Any

import yaml
from typer.testing import CliRunner

from nasc import api
from nasc.cli.app import COMMANDS, app, load_command
from nasc.ops.registry import primitive_names
from nasc.train.config import load_config

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_ops_lists_every_primitive_and_composite_with_its_origin() -> None:
    r = runner.invoke(app, ["ops", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    prims = [row for row in rows if row["kind"] == "primitive"]
    assert sorted(row["name"] for row in prims) == primitive_names()
    conv = next(row for row in prims if row["name"] == "conv")
    assert conv["params"].startswith("out=C_out, k") and "MACs" in conv["detail"]
    sep = next(row for row in rows if row["name"] == "sep_conv_3x3")
    assert sep["kind"] == "composite" and re.fullmatch(r"std\.nas:\d+", sep["origin"])
    line = int(sep["origin"].split(":")[1])
    assert "sep_conv_3x3" in (ROOT / "stdlib_ops" / "std.nas").read_text().splitlines()[line - 1]
    assert sep["detail"] == "op sep_conv_3x3 = sep_conv(k=3, pad=1)"
    r = runner.invoke(app, ["ops", "nb201"])
    assert r.exit_code == 0 and "nor_conv_3x3" in r.stdout and "primitives" not in r.stdout
    r = runner.invoke(app, ["ops", "nosuchlib"])
    assert r.exit_code == 1 and "no op library `nosuchlib`" in r.output


def test_config_show_gives_every_key_a_value_and_a_description(tmp_path: Path) -> None:
    for args in (["train"], *[["search", n] for n in api.search_names()]):
        rows = api.config_show(*args)
        assert rows and all(desc for _, _, desc in rows), [k for k, _, d in rows if not d]
    darts = dict((k, v) for k, v, _ in api.config_show("search", "darts"))
    full = dict((k, v) for k, v, _ in api.config_show("search", "darts", full=True))
    assert darts["search.darts.channels"] == 4 and full["search.darts.channels"] == 16
    # the --yaml form is a config file that loads back to the same values
    r = runner.invoke(app, ["config", "show", "train", "--yaml"])
    assert r.exit_code == 0, r.output
    path = tmp_path / "train.yaml"
    path.write_text(r.stdout)
    assert isinstance(yaml.safe_load(r.stdout), dict)
    cfg = load_config(path)
    assert cfg.optimizer.lr == dict((k, v) for k, v, _ in api.config_show("train"))["optimizer.lr"]
    r = runner.invoke(app, ["config", "show", "search"])
    assert r.exit_code == 1 and "needs the algorithm" in r.output


def _options(command: Any) -> set[str]:
    # typer bundles its own click: recognise options by their kind, not by class
    out = set()
    for p in command.params:
        if p.param_type_name == "option":
            out.update(o for o in p.opts + p.secondary_opts if o.startswith("--"))
    return out - {"--help"}


def _commands() -> list[tuple[str, Any]]:
    """Every command and subcommand of the CLI as (`name sub`, command)."""
    out = []
    for name in COMMANDS:
        command = load_command(name)
        if hasattr(command, "list_commands"):
            ctx = command.context_class(command)
            out += [(f"{name} {sub}", command.get_command(ctx, sub))
                    for sub in command.list_commands(ctx)]
        else:
            out.append((name, command))
    return out


def test_the_readme_command_reference_lists_every_command_and_option() -> None:
    text = ROOT.joinpath("README.md").read_text()
    section = text[text.index("## Command reference"):]
    section = section[:section.index("\n## ", 3)] if "\n## " in section[3:] else section
    for full, cmd in _commands():
        assert cmd is not None
        assert f"`nasc {full}" in section, f"nasc {full} is missing"
        for opt in _options(cmd):
            assert opt in section, f"{opt} of nasc {full} is missing"
