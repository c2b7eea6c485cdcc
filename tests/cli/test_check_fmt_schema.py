"""`nasc check`, `nasc fmt`, `nasc schema` through typer's CliRunner; no torch import."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasc.cli.app import app
from nasc.cli.render import render_error
from nasc.errors import ConfigError, Diagnostics, NameResolutionError
from nasc.source import Span

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_check_ok_summary():
    r = run("check", EX / "darts_v2_cifar.nas")
    assert r.exit_code == 0, r.output
    assert r.output == "ok: darts_v2_cifar, 20 cells (2 reduction), input 3x32x32 -> 10 classes, 3.35M params\n"


def test_check_resnet20_and_space_summary():
    r = run("check", EX / "resnet20.nas")
    assert r.exit_code == 0 and "272.47k params" in r.output and "9 cells (2 reduction)" in r.output
    r = run("check", EX / "darts_space.nas")
    assert r.exit_code == 0 and "search space: 28 choice edges" in r.output


def test_check_set_overrides():
    r = run("check", EX / "darts_v2_cifar.nas", "--set", "C=16", "--set", "layers=8")
    assert r.exit_code == 0 and "8 cells (2 reduction)" in r.output
    r = run("check", EX / "darts_v2_cifar.nas", "--set", "layerz=8")
    assert r.exit_code == 1
    assert "--set layerz: config error: unknown param `layerz`\nhint: did you mean `layers`?" in r.output


def test_check_renders_errors_with_caret(tmp_path):
    src = (EX / "darts_v2_cifar.nas").read_text().replace("n2 = sep_conv_3x3(s1)", "n2 = sep_conv_3x33(s1)", 1)
    src = src.replace("n3 = skip_connect(s0) + dil_conv_3x3(n0)", "n3 = skip_connect(s0) + dil_conv_3x3(n9)")
    p = tmp_path / "bad.nas"
    p.write_text(src)
    r = run("check", p)
    assert r.exit_code == 1
    assert "Traceback" not in r.output
    assert f"""{p}:12:8: name error: unknown op `sep_conv_3x33` in cell `normal`
   12 |   n2 = sep_conv_3x33(s1) + skip_connect(s0)
      |        ^~~~~~~~~~~~~~~~~
hint: did you mean `sep_conv_3x3`?
{p}:13:27: name error: unknown state `n9` in cell `normal`
   13 |   n3 = skip_connect(s0) + dil_conv_3x3(n9)
      |                           ^~~~~~~~~~~~~~~~
""" in r.output
    assert r.output.rstrip().endswith("2 errors")


def test_check_shape_error_is_exit_1(tmp_path):
    p = tmp_path / "tiny.nas"
    p.write_text((EX / "darts_v2_cifar.nas").read_text().replace("input = (3, 32, 32)", "input = (3, 2, 2)"))
    r = run("check", p)
    assert r.exit_code == 1 and "Traceback" not in r.output and "error" in r.output


def test_check_missing_and_binary_files(tmp_path):
    r = run("check", tmp_path / "nope.nas")
    assert r.exit_code == 1 and "file not found" in r.output
    b = tmp_path / "b.nas"
    b.write_bytes(b"\x00\xff\x00")
    r = run("check", b)
    assert r.exit_code == 1 and "binary file" in r.output


def test_check_prints_warnings_but_passes(tmp_path):
    p = tmp_path / "w.nas"
    p.write_text((EX / "resnet20.nas").read_text().replace("  n2 = relu(n1)\n", "  n2 = relu(n1)\n  n3 = relu(n1)\n"))
    r = run("check", p)
    assert r.exit_code == 0
    assert "warning: the output of node `n3` in cell `block` is never used" in r.output


def test_check_op_libraries(tmp_path):
    r = run("check", ROOT / "stdlib_ops" / "std.nas")
    assert r.exit_code == 0 and r.output.strip().endswith("std.nas: 25 ops")
    lib = tmp_path / "lib.nas"
    lib.write_text("import std\nop a { b }\nop b { a }\nop c = conv(kk=1, k=1)\n")
    r = run("check", lib)
    assert r.exit_code == 1
    assert f"{lib}:2:4: invalid model: op `a` is recursive: a -> b -> a" in r.output
    assert f"{lib}:4:8: name error: primitive `conv` has no parameter `kk`" in r.output
    empty = tmp_path / "empty.nas"
    empty.write_text("# nothing\n")
    r = run("check", empty)
    assert r.exit_code == 1 and "the file defines no `network`" in r.output


def test_render_error_formats():
    assert render_error(ConfigError("bad", key="--set x", hint="h")) == "--set x: config error: bad\nhint: h"
    e = NameResolutionError("boom", Span(file=str(EX / "resnet20.nas"), line=14, col=8, end_line=14, end_col=20))
    assert render_error(e) == ("{}:14:8: name error: boom\n   14 |   n0 = conv_bn_relu(x)\n      |        ^~~~~~~~~~~~"
                               .format(EX / "resnet20.nas"))
    many = Diagnostics([e, ConfigError("c")])
    assert render_error(many).endswith("config error: c\n2 errors")
    one = Diagnostics([e])
    assert render_error(one).endswith("\n1 error")
    missing_file = NameResolutionError("x", Span(file="/nonexistent/f.nas", line=3, col=1))
    assert render_error(missing_file) == "/nonexistent/f.nas:3:1: name error: x"


# ---- fmt -----------------------------------------------------------------------------------------

def test_fmt_rewrites_in_place_and_is_idempotent(tmp_path):
    p = tmp_path / "space.nas"
    original = (EX / "darts_space.nas").read_text()
    p.write_text(original.replace("  n0 = darts(s0) + darts(s1) keep 2", "n0=darts(s0)+darts(s1)   keep 2;"))
    os.chmod(p, 0o640)
    r = run("fmt", "--check", p)
    assert r.exit_code == 1 and "would be reformatted" in r.output
    assert "-n0=darts(s0)+darts(s1)   keep 2;\n+  n0 = darts(s0) + darts(s1) keep 2\n" in r.output
    r = run("fmt", p)
    assert r.exit_code == 0 and f"{p}: reformatted" in r.output
    once = p.read_text()
    assert (p.stat().st_mode & 0o777) == 0o640
    r = run("fmt", p)
    assert r.exit_code == 0 and "already formatted" in r.output and p.read_text() == once
    r = run("fmt", "--check", p)
    assert r.exit_code == 0 and r.output == ""
    assert once == original  # the example is canonical
    assert list(tmp_path.iterdir()) == [p]  # no temporary file left behind


@pytest.mark.parametrize("name", ["resnet20.nas", "nasbench101_cell.nas", "darts_space.nas", "darts_v2_cifar.nas",
                                  "resnet20.yaml", "darts_v2_cifar.yaml", "nasbench101_cell.yaml"])
def test_examples_are_canonical(name):
    r = run("fmt", "--check", EX / name)
    assert r.exit_code == 0, r.output


def test_fmt_yaml_keeps_header_and_is_canonical(tmp_path):
    p = tmp_path / "r.yaml"
    text = (EX / "resnet20.yaml").read_text()
    p.write_text(text.replace("imports: [std]", "imports:\n- std"))
    r = run("fmt", p)
    assert r.exit_code == 0 and p.read_text() == text


def test_fmt_keeps_a_self_contained_yaml_self_contained(tmp_path):
    from nasc.frontend import load_model
    from nasc.ir.serde import to_yaml

    m = load_model(EX / "resnet20.nas")
    p = tmp_path / "sc.yaml"
    p.write_text(to_yaml(m, self_contained=True).replace("imports: [std]", "imports:\n- std"))
    assert run("fmt", p).exit_code == 0
    assert p.read_text() == to_yaml(m, self_contained=True)


def test_fmt_refuses_broken_files(tmp_path):
    p = tmp_path / "bad.nas"
    p.write_text("import std\nparam C 16\n")
    r = run("fmt", p)
    assert r.exit_code == 1 and "missing `=` after the param name" in r.output
    assert p.read_text() == "import std\nparam C 16\n"


def test_fmt_formats_libraries(tmp_path):
    p = tmp_path / "std.nas"
    shutil.copy(ROOT / "stdlib_ops" / "std.nas", p)
    assert run("fmt", p).exit_code == 0
    text = p.read_text()
    assert run("fmt", "--check", p).exit_code == 0
    assert "op none = zero(stride=stride)" in text and "# a residual shortcut" in text


# ---- schema --------------------------------------------------------------------------------------

def test_schema_stdout_and_file(tmp_path):
    r = run("schema")
    assert r.exit_code == 0
    s = json.loads(r.output)
    assert s["title"] == "nasc model (ir_version 1)" and "cells" in s["properties"]
    out = tmp_path / "schema.json"
    r = run("schema", "-o", out)
    assert r.exit_code == 0 and json.loads(out.read_text()) == s


def test_check_fmt_schema_do_not_import_torch(tmp_path):
    shutil.copy(EX / "darts_space.nas", tmp_path / "s.nas")
    code = f"""
import sys
from typer.testing import CliRunner
from nasc.cli.app import app
r = CliRunner()
for args in (["check", {str(EX / 'darts_v2_cifar.nas')!r}], ["check", {str(EX / 'resnet20.yaml')!r}],
             ["fmt", "--check", {str(EX / 'resnet20.nas')!r}], ["fmt", {str(tmp_path / 's.nas')!r}], ["schema"]):
    res = r.invoke(app, args)
    assert res.exit_code == 0, (args, res.output)
assert "torch" not in sys.modules, sorted(m for m in sys.modules if m.startswith("torch"))
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
