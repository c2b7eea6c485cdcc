"""`nasc fmt FILE...`: rewrite sources in canonical form (atomically); `--check` only reports.

.nas files keep their comments (`nasc.ir.printer` places them); op libraries (files of imports and
ops, like std.nas) are formatted too. .yaml/.yml/.json files are rewritten as canonical YAML/JSON
(`nasc.ir.serde`), keeping a leading comment block. Before anything is written the formatted text
is parsed back and compared with the original IR, so formatting can never change a model.
`--check` exits 1 and prints a diff when a file is not canonical. Never imports torch.
"""
from __future__ import annotations

import difflib
from pathlib import Path

import typer

from nasc.atomic import atomic_write_text
from nasc.errors import NascError, ValidationError


def _yaml_header(text: str) -> str:
    lines = []
    for ln in text.splitlines():
        if ln.startswith("#"):
            lines.append(ln)
        else:
            break
    return "\n".join(lines) + "\n" if lines else ""


def format_text(text: str, path: str) -> str:
    """The canonical form of source `text` read from `path` (raises `NascError` if it cannot be
    read, or if the formatted text would not give back the same IR)."""
    from nasc.frontend import YAML_SUFFIXES, parse_source

    suffix = Path(path).suffix.lower()
    if suffix in YAML_SUFFIXES:
        from nasc.ir.model import LOCAL_MODULE
        from nasc.ir.serde import to_json, to_yaml

        model = parse_source(text, path)
        # a self-contained file (imported ops written out) stays self-contained
        contained = any(d.module != LOCAL_MODULE for d in model.ops) and not any(
            d.module != LOCAL_MODULE and d.span is not None and d.span.file != path for d in model.ops)
        out = to_json(model, contained) if suffix == ".json" else _yaml_header(text) + to_yaml(model, contained)
        if parse_source(out, path) != model:
            raise ValidationError("internal error: formatting would change the model; file left as is")
        return out

    from nasc.frontend.dsl import build_model, read_source
    from nasc.frontend.imports import resolve_imports
    from nasc.ir.printer import print_library, print_model

    src = read_source(text, path)
    imported = resolve_imports([(i.name, i.span) for i in src.imports], path)
    if not (src.networks or src.cells or src.params or src.choices):  # an op library
        out = print_library([i.name for i in src.imports], src.ops, src)
        again = read_source(out, path)
        if again.ops != src.ops or [i.name for i in again.imports] != [i.name for i in src.imports]:
            raise ValidationError("internal error: formatting would change the library; file left as is")
        return out
    model = build_model(src, imported)
    out = print_model(model, src)
    if parse_source(out, path) != model:
        raise ValidationError("internal error: formatting would change the model; file left as is")
    return out


def register(app: typer.Typer) -> None:
    """Register `nasc fmt`."""

    @app.command("fmt")
    def fmt_cmd(
        files: list[Path] = typer.Argument(..., help=".nas / .yaml / .json files to format"),
        check: bool = typer.Option(False, "--check",
                                   help="do not write; exit 1 (with a diff) if a file is not canonical"),
    ) -> None:
        """Rewrite files in canonical form (idempotent; comments are kept)."""
        from nasc.cli.render import clear_cache, render_error
        from nasc.frontend import read_text

        failed = False
        for f in files:
            name = str(f)
            try:
                text = read_text(name)
                out = format_text(text, name)
            except NascError as err:
                typer.echo(render_error(err), err=True)
                failed = True
                continue
            if out == text:
                if not check:
                    typer.echo(f"{name}: already formatted")
                continue
            if check:
                diff = difflib.unified_diff(text.splitlines(True), out.splitlines(True),
                                            fromfile=name, tofile=f"{name} (formatted)")
                typer.echo("".join(diff), nl=False)
                typer.echo(f"{name}: would be reformatted", err=True)
                failed = True
                continue
            try:
                atomic_write_text(f, out)
            except OSError as e:
                typer.echo(f"error: cannot write {name}: {e.strerror or e}", err=True)
                failed = True
                continue
            clear_cache()
            typer.echo(f"{name}: reformatted")
        if failed:
            raise typer.Exit(1)
