"""The layer map: which parts of nasc may import which, checked on the source with `ast`.

Every import in a module counts: at the top, inside functions, under `TYPE_CHECKING`, and
`importlib.import_module("...")` with a literal name. Relative imports are resolved; `from a
import b` is an import of `a.b` when that is a module, else of `a`. Importing the package root
`nasc` itself (for `__version__`) is allowed everywhere: it runs whenever any submodule is imported.
Also here: the `nasc.api` functions behind check/fmt/stats leave torch unimported.
"""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nasc"

BASE_MODULES = ("nasc.errors", "nasc.source", "nasc.atomic", "nasc.resources", "nasc.plugins", "nasc.limits",
                "nasc.frozen", "nasc.yamlio", "nasc.overrides")
SUBPACKAGES = ("ir", "ops", "frontend", "analysis", "passes", "lower", "train", "export", "search", "cli")
ABOVE_COMPILER = ("base", "ir", "ops", "frontend", "analysis", "passes", "lower", "compiler", "train", "export")

# layer -> the layers its modules may import (its own layer always included)
ALLOWED: dict[str, frozenset[str]] = {k: frozenset(v) | {k} for k, v in {
    "base": (),
    "ir": ("base",),
    "ops": ("base", "ir"),
    "frontend": ("base", "ir", "ops"),
    "analysis": ("base", "ir", "ops"),
    "passes": ("base", "ir", "ops", "analysis"),
    "lower": ("base", "ir", "ops", "analysis"),
    "train": ("base", "ir", "ops", "analysis", "lower"),
    "export": ("base", "ir", "ops", "analysis", "lower"),
    "compiler": ("base", "ir", "ops", "frontend", "analysis", "passes", "lower"),
    "search": ABOVE_COMPILER,
    "api": ABOVE_COMPILER + ("search",),
    "cli": ("base", "api"),
    "root": ("api", "cli"),
}.items()}


def layer_of(module: str) -> str | None:
    """The layer of a module of the package (None: not in the map, itself an error)."""
    parts = module.split(".")
    if module in BASE_MODULES:
        return "base"
    if module in ("nasc", "nasc.__main__"):
        return "root"
    if module == "nasc.compiler":
        return "compiler"
    if module in ("nasc.api", "nasc.experiment"):  # the experiment (`nasc run`) composes the api
        return "api"
    if len(parts) >= 2 and parts[1] in SUBPACKAGES:
        return parts[1]
    return None


@dataclass(frozen=True)
class Violation:
    """One import against the layer map."""

    file: str
    line: int
    module: str
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.module} -> {self.imported} ({self.why})"


def module_name(path: Path, root: Path) -> str:
    """`root/nasc/lower/net.py` -> `nasc.lower.net`; a package's `__init__.py` is the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str, root: Path) -> bool:
    """Whether `name` (dotted) is a module or package in the tree under `root`."""
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path, root: Path, package: str) -> list[tuple[int, str, bool]]:
    """(line, imported module, at module top level) for every import of `package` in `path`."""
    module = module_name(path, root)
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    top = {id(n) for n in tree.body}
    for n in tree.body:  # `if TYPE_CHECKING:` / try blocks at top level still run at import
        if isinstance(n, (ast.If, ast.Try)):
            top |= {id(m) for m in ast.walk(n)}
    out: list[tuple[int, str, bool]] = []

    def add(node: ast.AST, name: str) -> None:
        if name == package or name.startswith(package + "."):
            out.append((node.lineno, name, id(node) in top))  # type: ignore[attr-defined]

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                here = module.split(".") if is_pkg else module.split(".")[:-1]
                anchor = here[: len(here) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(node, full if alias.name != "*" and _is_module(full, root) else base)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ("import_module", "__import__"):
                add(node, node.args[0].value)
    return out


def check_layers(package_dir: Path) -> list[Violation]:
    """Every import against the layer map in the package at `package_dir`."""
    root, package = package_dir.parent, package_dir.name
    found: list[Violation] = []
    for path in sorted(package_dir.rglob("*.py")):
        module = module_name(path, root)
        rel = str(path.relative_to(root))
        mine = layer_of(module)
        if mine is None:
            found.append(Violation(rel, 1, module, "-", "module not in the layer map"))
            continue
        for line, imported, at_top in imports_of(path, root, package):
            if imported == package:
                continue  # the package root (`__version__`): already run by any import of nasc.*
            theirs = layer_of(imported)
            if theirs is None:
                found.append(Violation(rel, line, module, imported, "imported module not in the layer map"))
            elif theirs not in ALLOWED[mine]:
                found.append(Violation(rel, line, module, imported, f"{mine} may not import {theirs}"))
            elif module == package and at_top:
                found.append(Violation(rel, line, module, imported, "the package root imports lazily"))
    return found


def test_the_package_follows_the_layer_map() -> None:
    found = check_layers(PACKAGE)
    assert not found, "imports against the layer map:\n" + "\n".join(map(str, found))


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))


def test_the_checker_catches_imports_against_the_flow(tmp_path: Path) -> None:
    pkg = tmp_path / "nasc"
    _write(pkg, {
        "__init__.py": "from nasc.api import load\n",               # the root must import lazily
        "errors.py": "",
        "api.py": "from nasc.cli import app\n",                     # api may not import cli
        "ir/__init__.py": "",
        "ir/model.py": """\
            from __future__ import annotations
            from typing import TYPE_CHECKING
            from nasc.errors import NascError
            from . import printer
            if TYPE_CHECKING:
                from nasc.frontend.dsl import Source
            def f():
                from ..frontend import load_model
                import nasc.passes.pipeline
            """,
        "ir/printer.py": "import importlib\nimportlib.import_module('nasc.lower.net')\n",
        "frontend/__init__.py": "from nasc import __version__\nfrom nasc.ir import model\n",
        "frontend/dsl.py": "",
        "passes/pipeline.py": "",
        "lower/net.py": "",
        "cli/__init__.py": "",
        "cli/app.py": "from nasc import api\nfrom nasc.ir.printer import x\n",
        "magic.py": "",
    })
    got = {(v.module, v.imported, v.line) for v in check_layers(pkg)}
    assert got == {
        ("nasc", "nasc.api", 1),
        ("nasc.api", "nasc.cli.app", 1),
        ("nasc.ir.model", "nasc.frontend.dsl", 6),
        ("nasc.ir.model", "nasc.frontend", 8),
        ("nasc.ir.model", "nasc.passes.pipeline", 9),
        ("nasc.ir.printer", "nasc.lower.net", 2),
        ("nasc.cli.app", "nasc.ir.printer", 2),
        ("nasc.magic", "-", 1),
    }, got
    text = "\n".join(str(v) for v in check_layers(pkg))
    assert "nasc/ir/model.py:8: nasc.ir.model -> nasc.frontend (ir may not import frontend)" in text


def test_api_check_fmt_stats_do_not_import_torch(tmp_path: Path) -> None:
    src = (ROOT / "examples" / "darts_v2_cifar.nas").read_text()
    copy = tmp_path / "copy.nas"
    copy.write_text(src.replace("\n\n", "\n\n\n", 1))  # not canonical: fmt rewrites it
    code = textwrap.dedent(f"""\
        import sys
        from nasc import api
        report = api.check("examples/darts_v2_cifar.nas")
        assert report.params and report.network is not None
        assert api.format_file("examples/darts_v2_cifar.nas", check=True).changed is False
        assert api.format_file({str(copy)!r}).written
        assert api.stats("examples/darts_v2_cifar.nas").cost.params == report.params
        bad = [m for m in ("torch", "nasc.lower", "nasc.train.trainer") if m in sys.modules]
        assert not bad, bad
        """)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
