"""`nasc compile SRC -o model.pt`: source -> passes -> module -> one weights file (`nasc.load`).

    nasc compile final.nas -o model.pt --cells 20 --channels 36 --aux --drop-path
    nasc compile final.nas -o model.pt --passes "aux-towers,affine-bn" --option aux-towers.weight=0.3
    nasc compile final.nas -o model.pt --dump-after aux-towers      # print the IR after that pass
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from nasc import api
from nasc.cli.render import fail
from nasc.errors import ConfigError, NascError


def parse_int_list(text: str | None, flag: str) -> list[int] | None:
    """`"6,13"` -> `[6, 13]`."""
    if text is None:
        return None
    try:
        return [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise ConfigError(f"`{flag} {text}` must be comma-separated integers", key=flag, hint=f"e.g. `{flag} 6,13`") from None


def register(app: typer.Typer) -> None:
    """Register `nasc compile`."""

    @app.command("compile")
    def compile_cmd(
        src: Path = typer.Argument(..., help="network source (.nas or .yaml)"),
        output: Path = typer.Option(..., "-o", "--output", help="the model file to write (e.g. model.pt)"),
        cells: Optional[int] = typer.Option(None, "--cells", help="scale up: number of cells"),
        channels: Optional[int] = typer.Option(None, "--channels", help="scale up: initial cell width"),
        reductions: Optional[str] = typer.Option(None, "--reductions", help="scale up: reduction cells, e.g. 6,13"),
        aux: Optional[bool] = typer.Option(None, "--aux/--no-aux", help="add / remove the auxiliary tower"),
        drop_path: bool = typer.Option(False, "--drop-path", help="mark non-identity edges for drop path"),
        sets: list[str] = typer.Option([], "--set", help="override a model param: KEY=VALUE (repeatable)"),
        passes: Optional[str] = typer.Option(None, "--passes", help='explicit pass list, e.g. "aux-towers,affine-bn"'),
        options: list[str] = typer.Option([], "--option", help="pass option PASS.KEY=VALUE (@file reads JSON/YAML)"),
        dump_after: Optional[str] = typer.Option(None, "--dump-after", help="print the IR (.nas) after this pass"),
        seed: int = typer.Option(0, "--seed", help="seed of the weight initialisation"),
        verify: bool = typer.Option(False, "--verify", help="verify the IR after every pass"),
        max_memory: Optional[str] = typer.Option(
            None, "--max-memory", help="memory a network may need, e.g. 64G (default: the machine's)"),
    ) -> None:
        """Compile a network to a single weights file loadable with `nasc.load`."""
        dumped: list[str] = []

        def observe(r: Any) -> None:  # a pass result, as the pipeline produces it
            if r.name == dump_after:
                typer.echo(f"# IR after pass `{r.name}`{'' if r.changed else ' (unchanged)'}")
                typer.echo(api.to_nas(r.model))
                dumped.append(r.name)

        try:
            result = api.compile(
                src, overrides=sets, passes=passes, options=api.parse_pass_options(options), cells=cells,
                channels=channels, reductions=parse_int_list(reductions, "--reductions"), aux=aux,
                drop_path=drop_path, seed=seed, verify=verify, observer=observe, max_memory=max_memory)
            if dump_after is not None and not dumped:
                ran = ", ".join(r.name for r in result.passes) or "none"
                raise ConfigError(f"--dump-after `{dump_after}`: no such pass in the pipeline",
                                  key="--dump-after", hint=f"the pipeline ran: {ran}")
            api.save_model(result, output)
        except NascError as e:
            raise fail(e) from None
        net = result.module
        total = sum(p.numel() for p in net.parameters())
        aux_n = sum(p.numel() for p in net.aux.parameters()) if net.aux is not None else 0
        ran = ", ".join(f"{r.name}{'' if r.changed else ' (no change)'}" for r in result.passes)
        typer.echo(f"compiled {result.model.name}: {len(result.network.cells)} cells, "
                   f"{total - aux_n:,} params" + (f" (+{aux_n:,} aux)" if aux_n else ""))
        typer.echo(f"passes: {ran}")
        typer.echo(f"wrote {output}")
